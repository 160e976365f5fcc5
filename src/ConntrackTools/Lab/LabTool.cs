using System;
using System.Diagnostics;
using System.IO;
using System.Linq;

namespace ConntrackTools.Lab;

/// <summary>A program the sandbox needs (ip, nft, iptables) is not installed.</summary>
public sealed class LabPrerequisiteException : ConntrackToolsException
{
    public LabPrerequisiteException(string message) : base(ErrorIds.PrerequisiteMissing, ErrorKind.NotInstalled, message) { }
}

/// <summary>A topology command failed; carries the command line and what it printed.</summary>
public sealed class LabCommandException : ConntrackToolsException
{
    public LabCommandException(string commandLine, int exitCode, string output)
        : base(ErrorIds.LabCommandFailed, ErrorKind.InvalidOperation, $"'{commandLine}' failed with exit code {exitCode}: {output.Trim()}")
    {
        CommandLine = commandLine;
        ExitCode = exitCode;
    }

    public string CommandLine { get; }
    public int ExitCode { get; }
}

/// <summary>
/// Runs iproute2 and nftables/iptables to build and tear down the sandbox topology. Only the lab does this: the
/// cmdlets themselves reach the kernel through netlink.
/// </summary>
internal static class LabTool
{
    private static readonly string[] SearchPath = ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"];

    /// <summary>Full path of a program, or null.</summary>
    public static string? Find(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(SearchPath)
            .Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);

    public static string Require(string program, string package) =>
        Find(program) ?? throw new LabPrerequisiteException($"'{program}' is not installed; the sandbox needs it (Debian/Ubuntu: apt-get install {package}).");

    /// <summary>Runs a program to completion; throws <see cref="LabCommandException"/> on a non-zero exit.</summary>
    public static string Run(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new LabCommandException(program, -1, "could not start");
        // Process.Dispose leaves the redirected streams open (their pipes live until a garbage collection): close them here.
        using var output = p.StandardOutput;
        using var error = p.StandardError;
        var stdout = output.ReadToEndAsync();
        string stderr = error.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new LabCommandException(program + " " + string.Join(' ', args), p.ExitCode, stderr + stdout.Result);
        return stdout.Result;
    }

    /// <summary>Runs a program and ignores failure (cleanup paths).</summary>
    public static void TryRun(string program, params string[] args)
    {
        try { Run(program, args); }
        catch (LabCommandException) { }
        catch (System.ComponentModel.Win32Exception) { }
    }
}
