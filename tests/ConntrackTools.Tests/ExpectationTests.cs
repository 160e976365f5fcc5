using System;
using System.Linq;
using ConntrackTools.Conntrack;
using ConntrackTools.Netlink;
using Xunit;

namespace ConntrackTools.Tests;

/// <summary>Expectation messages recorded from this kernel's FTP helper and from a create over netlink (Fixtures/expect-*.hex).</summary>
public class ExpectationTests
{
    private static ConntrackExpectation Decode(string fixture) =>
        ExpectationClient.Decode(Fixture.Messages(fixture)[0].AsSpan(Nlmsg.HeaderLength), "ctt-rec-ftps");

    [Fact]
    public void FtpHelperExpectationIPv4()
    {
        var x = Decode("expect-ftp-ipv4");
        Assert.Equal(IPFamily.IPv4, x.AddressFamily);
        Assert.Equal("tcp", x.Protocol);
        Assert.Equal("10.78.0.1", x.Expected.SourceAddress.ToString());
        Assert.Equal("10.78.0.2", x.Expected.DestinationAddress.ToString());
        Assert.Equal(0, x.Expected.SourcePort);
        Assert.Equal(50123, x.Expected.DestinationPort);
        Assert.Equal("255.255.255.255", x.Mask.SourceAddress.ToString());
        Assert.Equal(0, x.Mask.SourcePort);
        Assert.Equal(65535, x.Mask.DestinationPort);
        Assert.Equal("tcp", x.Master.Protocol);
        Assert.Equal(40434, x.Master.SourcePort);
        Assert.Equal(21, x.Master.DestinationPort);
        Assert.Equal("ftp", x.Helper);
        Assert.Equal(TimeSpan.FromSeconds(299), x.Timeout);
        Assert.Equal(2000960610u, x.Id);
        Assert.Equal(ConntrackExpectationFlags.None, x.Flags);
        Assert.Equal(0u, x.Class);
        Assert.Equal((ushort)0, x.Zone);
        Assert.Equal("ctt-rec-ftps", x.NetworkNamespace);
        // Flat views: a masked port reads as "any".
        Assert.Null(x.SourcePort);
        Assert.Equal(50123, x.DestinationPort);
        Assert.Equal(40434, x.MasterSourcePort);
    }

    [Fact]
    public void FtpHelperExpectationIPv6()
    {
        var x = Decode("expect-ftp-ipv6");
        Assert.Equal(IPFamily.IPv6, x.AddressFamily);
        Assert.Equal("fd00:78::1", x.Expected.SourceAddress.ToString());
        Assert.Equal("fd00:78::2", x.Expected.DestinationAddress.ToString());
        Assert.Equal(50124, x.Expected.DestinationPort);
        Assert.Equal("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", x.Mask.SourceAddress.ToString());
        Assert.Equal(42146, x.Master.SourcePort);
        Assert.Equal("ftp", x.Helper);
        Assert.Equal(1089066505u, x.Id);
    }

    [Fact]
    public void ExpectationCreatedOverNetlink()
    {
        var x = Decode("expect-userspace");
        Assert.Equal("udp", x.Protocol);
        Assert.Equal(5004, x.Expected.DestinationPort);
        Assert.Equal(ConntrackExpectationFlags.Permanent, x.Flags);
        Assert.Equal(TimeSpan.FromSeconds(300), x.Timeout); // the FTP helper's policy timeout, not the 120 s asked for
        Assert.Equal("tcp", x.Master.Protocol);
        Assert.Equal("ftp", x.Helper);
    }

    [Fact]
    public void CreateRequestHasTheDumpLayout()
    {
        var recorded = Decode("expect-userspace");
        recorded.Timeout = TimeSpan.FromSeconds(120);
        var msg = ExpectationClient.CreateRequest(recorded).Build(7);
        var m = new NetlinkMessage(msg);
        Assert.Equal(0x0200, m.Type); // (NFNL_SUBSYS_CTNETLINK_EXP << 8) | IPCTNL_MSG_EXP_NEW
        Assert.Equal(Nlmsg.F_CREATE | Nlmsg.F_EXCL, m.Flags);
        var back = ExpectationClient.Decode(m.Payload);
        Assert.Equal(recorded.Master.ToString(), back.Master.ToString());
        Assert.Equal(recorded.Expected.ToString(), back.Expected.ToString());
        Assert.Equal(recorded.Mask.ToString(), back.Mask.ToString());
        Assert.Equal(TimeSpan.FromSeconds(120), back.Timeout);
        Assert.Equal(ConntrackExpectationFlags.Permanent, back.Flags);
        Assert.Equal("ftp", back.Helper);
    }

    [Fact]
    public void UnknownMasterIsEnoentNamingTheMaster()
    {
        var error = Fixture.Messages("expect-error-enoent")[0];
        var transport = new ScriptedTransport((req, i) => new[] { error });
        var client = new ExpectationClient(new ConntrackClient(() => transport, KernelFeatures.For(new Version(6, 18))));
        var x = Decode("expect-userspace");
        var e = Assert.Throws<NetlinkException>(() => client.Create(x));
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Contains("no master connection tcp 10.78.0.1:40434 -> 10.78.0.2:21", e.Message);
    }

    [Fact]
    public void TruncatedInputRaisesOnlyDecodeErrors()
    {
        var payload = Fixture.Messages("expect-ftp-ipv4")[0].AsSpan(Nlmsg.HeaderLength).ToArray();
        foreach (int cut in Enumerable.Range(0, payload.Length))
        {
            try { ExpectationClient.Decode(payload.AsSpan(0, cut)); }
            catch (NetlinkDecodeException) { }
        }
    }
}
