using System;
using System.Linq;
using System.Net;
using ConntrackTools.Lab;
using Xunit;

namespace ConntrackTools.Tests;

public class VipMigrationJudgeTests
{
    private static ConntrackEntry Masqueraded(uint id, string translatedSource, int sport) => new(
        new FlowTuple(IPAddress.Parse("192.168.11.7"), IPAddress.Parse("10.232.3.28"), 6, sport, 8899),
        new FlowTuple(IPAddress.Parse("10.232.3.28"), IPAddress.Parse(translatedSource), 6, 8899, 30000 + sport % 1000))
    {
        Id = id,
        AddressFamily = IPFamily.IPv4,
    };

    [Fact]
    public void EntriesMasqueradedToTheDeletedAddress_AreNotLost()
    {
        var vip = IPAddress.Parse("192.168.11.100");
        var before = new[] { Masqueraded(1, "192.168.11.7", 40001), Masqueraded(2, "192.168.11.100", 40002), Masqueraded(3, "192.168.11.7", 40003) };
        var after = new[] { before[2] };
        var lost = VipMigrationRunner.LostEntries(before, after, vip);
        Assert.Equal(new uint[] { 1 }, lost.Select(e => e.Id));
    }

    [Fact]
    public void AnEntryReplacedByANewOneForTheSameFlow_IsLost()
    {
        // The unfixed kernel's signature: same original tuple, new id and new translated port after the move.
        var before = new[] { Masqueraded(1, "192.168.11.7", 40001) };
        var after = new[] { Masqueraded(9, "192.168.11.7", 40001) };
        Assert.Single(VipMigrationRunner.LostEntries(before, after, IPAddress.Parse("192.168.11.100")));
    }

    [Theory]
    [InlineData("192.168.11.100", "192.168.11.100", 32)]
    [InlineData("192.168.11.100/32", "192.168.11.100", 32)]
    [InlineData(" 10.0.0.9/24 ", "10.0.0.9", 24)]
    [InlineData("fd00::64", "fd00::64", 128)]
    [InlineData("fd00::64/64", "fd00::64", 64)]
    public void ParseAddress_AcceptsAddressAndPrefix(string text, string address, int prefix)
    {
        var (a, p) = VipMigrationRunner.ParseAddress(text);
        Assert.Equal(IPAddress.Parse(address), a);
        Assert.Equal(prefix, p);
    }

    [Theory]
    [InlineData("vip")]
    [InlineData("192.168.11.100/33")]
    [InlineData("192.168.11.100/0")]
    [InlineData("")]
    [InlineData("fe80::1%eth0")]
    public void ParseAddress_RejectsBadInput(string text) => Assert.Equal(ErrorIds.InvalidAddress, Assert.Throws<InvalidValueException>(() => VipMigrationRunner.ParseAddress(text)).ErrorId);
}
