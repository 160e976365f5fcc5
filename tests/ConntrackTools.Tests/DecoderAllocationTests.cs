using System;
using System.Linq;
using ConntrackTools.Conntrack;
using ConntrackTools.Netlink;
using Xunit;
using Xunit.Abstractions;

namespace ConntrackTools.Tests;

/// <summary>
/// What decoding one entry allocates, measured with the runtime's own per-thread counter. A dump decodes millions of
/// entries; the entry (144 bytes) and its two tuples (80 bytes each) are all it may cost: no address object, no
/// boxed number, no text until a property asks for it.
/// </summary>
public class DecoderAllocationTests(ITestOutputHelper output)
{
    private const int EntryAndTwoTuples = 144 + 2 * 80;

    [Theory]
    [InlineData("tcp-masquerade")]   // IPv4, source NAT, counters and timestamp
    [InlineData("tcp-ipv6")]         // IPv6 without NAT
    [InlineData("icmp")]
    [InlineData("udp")]
    public void Decode_AllocatesTheEntryAndItsTwoTuplesOnly(string fixture)
    {
        var payload = Fixture.Messages(fixture).First().AsSpan(Nlmsg.HeaderLength).ToArray();
        for (int i = 0; i < 100; i++) ConntrackDecoder.Decode(payload);   // past the first calls' one-time costs
        const int n = 1000;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < n; i++) ConntrackDecoder.Decode(payload);
        double perEntry = (double)(GC.GetAllocatedBytesForCurrentThread() - before) / n;
        output.WriteLine($"{fixture}: {perEntry} bytes an entry");
        Assert.True(perEntry <= EntryAndTwoTuples, $"{fixture}: {perEntry} bytes an entry, more than {EntryAndTwoTuples}");
    }

    [Fact]
    public void AddressesAndTheirText_AreMadeOnFirstUse_AndThenKept()
    {
        var e = Fixture.Entry("tcp-masquerade");
        string first = e.SourceAddress;
        Assert.Equal("192.168.11.7", first);
        Assert.Same(first, e.SourceAddress);
        Assert.Same(e.Original.SourceIP, e.Original.SourceIP);
        Assert.Equal(NatType.Source, e.NatType);
    }
}
