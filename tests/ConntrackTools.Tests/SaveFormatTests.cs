using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using ConntrackTools.Conntrack;
using ConntrackTools.Netlink;
using Xunit;

namespace ConntrackTools.Tests;

/// <summary>conntrack's -o save format and our flat JSON: written as conntrack writes it, read as conntrack reads it.</summary>
public class SaveFormatTests
{
    private static readonly Dictionary<int, string> NoLabels = new();

    /// <summary>Lines printed by `conntrack -L -o save` (conntrack-tools 1.4.7, kernel 6.18) for entries made with conntrack -I.</summary>
    public static IEnumerable<object[]> ConntrackLines() => new[]
    {
        "-A -t 299 -u SEEN_REPLY,ASSURED -w 3 -s 10.0.0.1 -d 10.0.0.2 -r 10.0.0.2 -q 10.0.0.1 -p tcp --sport 1000 --dport 80 --reply-port-src 80 --reply-port-dst 1000 --state ESTABLISHED",
        "-A -t 299 -u UNSET -s 10.0.0.1 -d 10.0.0.2 -g 10.9.9.9 -n 192.168.1.1 -p tcp --sport 1001 --dport 80 --reply-port-src 80 --reply-port-dst 1001 --state ESTABLISHED",
        "-A -t 29 -u UNSET -s 10.0.0.1 -d 10.0.0.3 -r 10.0.0.3 -q 10.0.0.1 -p icmp --icmp-type 8 --icmp-code 0 --icmp-id 77",
        "-A -t 99 -u UNSET -s 10.0.0.1 -d 10.0.0.2 -r 10.0.0.2 -q 192.168.5.5 -p tcp --sport 1002 --dport 80 --reply-port-src 80 --reply-port-dst 31445 --state SYN_SENT",
        "-A -t 29 -u UNSET -s fd00::1 -d fd00::2 -r fd00::2 -q fd00::1 -p udp --sport 53 --dport 5353 --reply-port-src 5353 --reply-port-dst 53",
        "-A -t 29 -u UNSET -s fd00::1 -d fd00::3 -r fd00::3 -q fd00::1 -p icmpv6 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 78",
        "-A -t 289 -u UNSET --orig-zone 4 -s 10.0.0.1 -d 10.0.0.2 -r 10.0.0.2 -q 10.0.0.1 -p udp --sport 3 --dport 4 --reply-port-src 4 --reply-port-dst 3",
        "-A -t 49 -u UNSET -s 10.0.0.1 -d 10.0.0.2 -r 10.0.0.2 -n 192.168.1.1 -p tcp --sport 1001 --dport 80 --reply-port-src 80 --reply-port-dst 1001 --state ESTABLISHED",
    }.Select(l => new object[] { l });

    [Theory]
    [MemberData(nameof(ConntrackLines))]
    public void ConntracksOwnLinesReadAndWriteBackIdentically(string line)
    {
        var e = ConntrackSaveFormat.ParseLine(line);
        Assert.Equal(line, ConntrackSaveFormat.Format(e, NoLabels));
    }

    [Theory]
    [InlineData(50)]
    [InlineData(30_000)]   // above the size that is parsed on every core
    public void ParseTextGivesWhatParseGivesLineForLine(int copies)
    {
        var lines = ConntrackLines().Select(o => (string)o[0]).ToArray();
        var text = new System.Text.StringBuilder("# a comment\r\n\n");
        for (int i = 0; i < copies; i++)
        {
            text.Append(lines[i % lines.Length]).Append(i % 3 == 0 ? "\r\n" : "\n");
            if (i % 1000 == 7) text.Append("-A -p nosuchproto -s 1.2.3.4\n");   // a bad line in the middle
        }
        var expected = ConntrackSaveFormat.Parse(new StringReader(text.ToString()), NoLabels).ToList();
        var actual = ConntrackSaveFormat.ParseText(text.ToString(), NoLabels);
        Assert.Equal(expected.Count, actual.Count);
        Assert.True(expected.Count > copies, "the bad lines are kept as lines with an error");
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].LineNumber, actual[i].LineNumber);
            Assert.Equal(expected[i].Error, actual[i].Error);
            Assert.Equal(expected[i].Entry is null ? null : ConntrackSaveFormat.Format(expected[i].Entry!, NoLabels),
                         actual[i].Entry is null ? null : ConntrackSaveFormat.Format(actual[i].Entry!, NoLabels));
        }
    }

    [Fact]
    public void AKernelEntryIsWrittenAsConntrackWritesIt()
    {
        // The recorded masqueraded flow: -q (not -n) because only the port is translated, as conntrack compares addresses.
        var e = Fixture.Entry("tcp-masquerade");
        string line = ConntrackSaveFormat.Format(e, NoLabels);
        Assert.StartsWith($"-A -t {(long)e.Timeout.TotalSeconds} -u SEEN_REPLY,ASSURED -s {e.Original.SourceAddress} -d {e.Original.DestinationAddress}", line);
        Assert.EndsWith($"-p tcp --sport {e.Original.SourcePort} --dport {e.Original.DestinationPort} --reply-port-src {e.Reply.SourcePort} --reply-port-dst {e.Reply.DestinationPort} --state {e.State}", line);
        var back = ConntrackSaveFormat.ParseLine(line);
        Assert.Equal(e.Reply.DestinationPort, back.Reply.DestinationPort);
        Assert.True(back.Status.HasFlag(ConntrackStatus.SourceNat), "a translated port is read back as source NAT");
    }

    [Fact]
    public void MarkAndLabelsAreAddedAfterTheZones()
    {
        var e = Fixture.Entry("labels");
        string line = ConntrackSaveFormat.Format(e, new Dictionary<int, string> { [2] = "blue" });
        Assert.Contains($" -m {e.Mark} -l 0,blue,41 -s ", line);
        var back = ConntrackSaveFormat.ParseLine(line, new Dictionary<string, int> { ["blue"] = 2 });
        Assert.Equal(e.Mark, back.Mark);
        Assert.Equal(new[] { 0, 2, 41 }, back.Labels);
    }

    [Theory]
    [InlineData("-A -t 10 -u BOGUS -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2", "unknown status 'BOGUS'")]
    [InlineData("-A -t 10 -s 1.1.1.1 -d ::1 -p udp --sport 1 --dport 2", "different families")]
    [InlineData("-A -t 10 -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1", "needs --sport and --dport")]
    [InlineData("-A -t 10 -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 1 --dport 2 --state BOGUS", "not a tcp state")]
    [InlineData("-A -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 1 --dport 2", "no timeout")]
    [InlineData("-A -t 10 -s 1.1.1.1 -d 2.2.2.2 -p gre --sport 1 --dport 2", "has no ports")]
    [InlineData("-A -t 10 -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 1 --dport 70000", "not a number")]
    [InlineData("-D -t 10 -s 1.1.1.1 -d 2.2.2.2 -p tcp --sport 1 --dport 2", "not an entry to create")]
    [InlineData("-A -t 10 -s 1.1.1.1/24 -d 2.2.2.2 -p tcp --sport 1 --dport 2", "not an IP address")]
    [InlineData("-A -t 10 -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2 --icmp-type 8", "ICMP options")]
    [InlineData("-A -t 10 -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2 --bogus 1", "unknown option '--bogus'")]
    [InlineData("-A -t 10 -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport", "needs a value")]
    public void BadLinesSayWhatIsWrong(string line, string expected)
    {
        var e = Assert.Throws<FormatException>(() => ConntrackSaveFormat.ParseLine(line));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ParseReportsEachLineByNumberAndSkipsComments()
    {
        var text = "# saved\n\n-A -t 5 -u UNSET -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2\n-A -t 5 -u NOPE -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2\n-A -t 5 -u UNSET -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 3 --dport 4 --reply-port-dst 9\n";
        var lines = ConntrackSaveFormat.Parse(new StringReader(text), NoLabels).ToList();
        Assert.Equal(new[] { 3, 4, 5 }, lines.Select(l => l.LineNumber));
        Assert.NotNull(lines[0].Entry);
        Assert.Null(lines[1].Entry);
        Assert.Contains("NOPE", lines[1].Error);
        Assert.Equal(9, lines[2].Entry!.Reply.DestinationPort);
        Assert.Equal(4, lines[2].Entry!.Reply.SourcePort);
    }

    [Fact]
    public void NatAddressWithPort()
    {
        var e = ConntrackSaveFormat.ParseLine("-A -t 5 -u UNSET -s 10.0.0.1 -d 10.0.0.5 -g 10.0.0.9:8080 -p tcp --sport 11 --dport 80");
        Assert.Equal("10.0.0.9", e.Reply.SourceAddress.ToString());
        Assert.Equal(8080, e.Reply.SourcePort);
        Assert.Equal(NatType.Destination, e.NatType);
        Assert.True(e.Status.HasFlag(ConntrackStatus.DestinationNatDone));
    }

    public static IEnumerable<object[]> FixtureNames() =>
        new[] { "tcp-masquerade", "udp", "tcp-ipv6", "icmp", "icmpv6", "zone-mark", "labels", "sctp" }.Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(FixtureNames))]
    public void JsonRoundTripKeepsEveryField(string fixture)
    {
        var e = Fixture.Entry(fixture);
        var w = new StringWriter();
        ConntrackJsonFormat.Write(w, new[] { e, e });
        var lines = ConntrackJsonFormat.Parse(w.ToString());
        Assert.Equal(new[] { 2, 3 }, lines.Select(l => l.LineNumber));
        var b = Assert.IsType<ConntrackEntry>(lines[0].Entry);
        Assert.Equal(e.AddressFamily, b.AddressFamily);
        Assert.Equal(e.Original.ToString(), b.Original.ToString());
        Assert.Equal(e.Reply.ToString(), b.Reply.ToString());
        Assert.Equal(e.Protocol, b.Protocol);
        Assert.Equal(e.State, b.State);
        Assert.Equal(e.Status, b.Status);
        Assert.Equal(e.Mark, b.Mark);
        Assert.Equal(e.Zone, b.Zone);
        Assert.Equal(e.Original.Zone, b.Original.Zone);
        Assert.Equal(e.Labels, b.Labels);
        Assert.Equal((long)e.Timeout.TotalSeconds, (long)b.Timeout.TotalSeconds);
        Assert.Equal(e.Original.IcmpId, b.Original.IcmpId);
        Assert.Equal(e.Reply.IcmpType, b.Reply.IcmpType);
    }

    [Fact]
    public void JsonBadElementNamesItsLineAndTheRestIsRead()
    {
        string json = "[\n{\"Protocol\":\"udp\",\"SourceAddress\":\"1.1.1.1\",\"DestinationAddress\":\"2.2.2.2\",\"SourcePort\":1,\"DestinationPort\":2,\"TimeoutSeconds\":5},\n" +
                      "{\"Protocol\":\"udp\",\"SourceAddress\":\"1.1.1.1\",\"DestinationAddress\":\"nope\",\"SourcePort\":1,\"DestinationPort\":2,\"TimeoutSeconds\":5},\n" +
                      "{\"Protocol\":\"tcp\",\"SourceAddress\":\"1.1.1.1\",\"DestinationAddress\":\"2.2.2.2\",\"SourcePort\":1,\"DestinationPort\":2,\"TimeoutSeconds\":5,\"State\":\"ESTABLISHED\",\"Status\":\"SeenReply, Assured\"}\n]";
        var lines = ConntrackJsonFormat.Parse(json);
        Assert.Equal(3, lines.Count);
        Assert.Null(lines[1].Entry);
        Assert.Equal(3, lines[1].LineNumber);
        Assert.Contains("DestinationAddress 'nope'", lines[1].Error);
        Assert.Equal(ConntrackStatus.SeenReply | ConntrackStatus.Assured, lines[2].Entry!.Status);
        Assert.Single(ConntrackJsonFormat.Parse("[ {\"Protocol\": "), l => l.Error!.StartsWith("not valid JSON", StringComparison.Ordinal));
    }

    [Fact]
    public void CreateRequestSetsUpNatFromAnUntranslatedReplyAndConfirms()
    {
        var e = ConntrackSaveFormat.ParseLine("-A -t 120 -u SEEN_REPLY,ASSURED -s 192.168.11.7 -d 10.232.3.28 -r 10.232.3.28 -q 192.168.11.7 -p tcp --sport 33862 --dport 8899 --reply-port-src 8899 --reply-port-dst 31445 --state ESTABLISHED");
        var msg = ConntrackImporter.CreateRequest(e).Build(1);
        var m = new NetlinkMessage(msg);
        Assert.Equal(Nlmsg.F_CREATE | Nlmsg.F_EXCL, m.Flags & (Nlmsg.F_CREATE | Nlmsg.F_EXCL));
        var sent = ConntrackDecoder.Decode(m.Payload);
        Assert.Equal(33862, sent.Reply.DestinationPort); // the kernel translates it
        Assert.True(sent.Status.HasFlag(ConntrackStatus.Confirmed));
        Assert.Equal("ESTABLISHED", sent.State);
        var ad = new AttributeDecoder(m.Payload[4..], bigEndian: true);
        bool nat = false;
        while (ad.Next())
        {
            if (ad.Type != 6) continue; // CTA_NAT_SRC
            nat = true;
            var n = ad.Nested();
            var seen = new Dictionary<ushort, string>();
            while (n.Next())
            {
                if (n.Type is 1 or 2) seen[n.Type] = n.Address(4)!.ToString();
                if (n.Type == 3)
                {
                    var p = n.Nested();
                    while (p.Next()) seen[(ushort)(10 + p.Type)] = p.UInt16().ToString(System.Globalization.CultureInfo.InvariantCulture);
                }
            }
            Assert.Equal("192.168.11.7", seen[1]);
            Assert.Equal("192.168.11.7", seen[2]);
            Assert.Equal("31445", seen[11]);
            Assert.Equal("31445", seen[12]);
        }
        Assert.Null(ad.Error);
        Assert.True(nat, "CTA_NAT_SRC sent");
    }

    [Fact]
    public void KernelOwnedStatusIsNeverSent()
    {
        var e = ConntrackSaveFormat.ParseLine("-A -t 5 -u EXPECTED,OFFLOAD,ASSURED -s 1.1.1.1 -d 2.2.2.2 -p udp --sport 1 --dport 2");
        var sent = ConntrackDecoder.Decode(new NetlinkMessage(ConntrackImporter.CreateRequest(e).Build(1)).Payload);
        Assert.Equal(ConntrackStatus.Assured | ConntrackStatus.Confirmed, sent.Status);
    }
}
