using System;
using SharpPcap;
using SharpPcap.LibPcap;

namespace ConntrackTools.Capture;

/// <summary>What the live and the file capture share in calling libpcap through SharpPcap.</summary>
internal static class Libpcap
{
    /// <summary>Runs the first call into libpcap: a missing library becomes <see cref="CaptureUnavailableException"/>.</summary>
    public static void Call(Action call) => Call(() => { call(); return true; });

    public static T Call<T>(Func<T> call)
    {
        try
        {
            return call();
        }
        catch (DllNotFoundException e)
        {
            throw new CaptureUnavailableException(e);
        }
        catch (TypeInitializationException e) when (e.InnerException is DllNotFoundException)
        {
            throw new CaptureUnavailableException(e.InnerException);
        }
    }

    /// <summary>
    /// libpcap's own words from a SharpPcap exception message, which wraps them in a sentence of its own
    /// ("Unable to open offline adapter: unknown file format").
    /// </summary>
    public static string Reason(string sharpPcapMessage)
    {
        int colon = sharpPcapMessage.IndexOf(": ", StringComparison.Ordinal);
        return (colon >= 0 ? sharpPcapMessage[(colon + 2)..] : sharpPcapMessage).TrimEnd('.', ' ');
    }

    /// <summary>Compiles and sets a BPF filter (tcpdump's syntax); a bad one becomes <see cref="InvalidCaptureFilterException"/>.</summary>
    public static void ApplyFilter(PcapDevice device, string filter)
    {
        try
        {
            device.Filter = filter;
        }
        catch (PcapException e)
        {
            throw new InvalidCaptureFilterException(filter, Reason(e.Message));
        }
    }
}
