using System.IO;
using System.Linq;
using System.Text.Json;
using ConntrackTools.Evidence;
using Xunit;

namespace ConntrackTools.Tests;

/// <summary>An entry written into an evidence bundle's JSON comes back with every property equal.</summary>
public class EvidenceJsonTests
{
    [Theory]
    [InlineData("tcp-masquerade")]
    [InlineData("tcp-ipv6")]
    [InlineData("icmp")]
    [InlineData("icmpv6")]
    [InlineData("zone-mark")]
    [InlineData("labels")]
    [InlineData("sctp")]
    public void Entry_RoundTrips(string fixture)
    {
        var original = Fixture.Entry(fixture);
        original.NetworkNamespace = "ns1";
        string path = Path.Combine(Path.GetTempPath(), $"ctt-evidence-json-{System.Guid.NewGuid():N}.json");
        try
        {
            EvidenceJson.Write(path, new[] { original });
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var back = EvidenceImporter.Entry(doc.RootElement[0]);
            foreach (var p in typeof(ConntrackEntry).GetProperties())
            {
                object? a = p.GetValue(original), b = p.GetValue(back);
                if (a is FlowTuple ta) Assert.Equal(ta.ToString() + ta.ProtocolNumber + ta.IcmpType + ta.IcmpCode + ta.IcmpId + ta.Zone,
                    ((FlowTuple)b!).ToString() + ((FlowTuple)b!).ProtocolNumber + ((FlowTuple)b!).IcmpType + ((FlowTuple)b!).IcmpCode + ((FlowTuple)b!).IcmpId + ((FlowTuple)b!).Zone);
                else if (a is int[] la) Assert.Equal(la, (int[])b!);
                else Assert.Equal(a, b);
            }
            // Readable for a colleague: addresses and enums as text.
            var e = doc.RootElement[0];
            Assert.Equal(JsonValueKind.String, e.GetProperty("SourceAddress").ValueKind);
            Assert.Equal(JsonValueKind.String, e.GetProperty("AddressFamily").ValueKind);
            Assert.Equal(original.Status.ToString(), e.GetProperty("Status").GetString());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
