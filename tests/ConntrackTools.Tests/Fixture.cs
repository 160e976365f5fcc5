using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using ConntrackTools.Netlink;

namespace ConntrackTools.Tests;

/// <summary>Loads the annotated golden messages in Fixtures/*.hex (hex before '#', annotation after).</summary>
internal static class Fixture
{
    public static string Dir => Path.Combine(AppContext.BaseDirectory, "Fixtures");

    /// <summary>The bytes of every message in the file, concatenated as one datagram.</summary>
    public static byte[] Bytes(string name)
    {
        var bytes = new List<byte>();
        foreach (var raw in File.ReadLines(Path.Combine(Dir, name + ".hex")))
        {
            int hash = raw.IndexOf('#');
            string line = hash >= 0 ? raw[..hash] : raw;
            foreach (var tok in line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                bytes.Add(byte.Parse(tok, NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        }
        return bytes.ToArray();
    }

    /// <summary>Each message of a fixture file, whole (header included).</summary>
    public static List<byte[]> Messages(string name)
    {
        var all = Bytes(name);
        var list = new List<byte[]>();
        var reader = new NetlinkMessageReader(all);
        int offset = 0;
        while (reader.Next())
        {
            int len = (int)reader.Current.Length;
            list.Add(all.AsSpan(offset, len).ToArray());
            offset += (len + 3) & ~3;
        }
        return list;
    }

    /// <summary>The decoded entry of a single-message fixture.</summary>
    public static ConntrackEntry Entry(string name)
    {
        var msg = Messages(name)[0];
        return Conntrack.ConntrackDecoder.Decode(msg.AsSpan(Nlmsg.HeaderLength));
    }
}
