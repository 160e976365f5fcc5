using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using ConntrackTools.Bench;
using ConntrackTools.Conntrack;
using ConntrackTools.Inet;
using ConntrackTools.Netlink;

BenchmarkRunner.Run<DecoderBenchmarks>(args: args);

namespace ConntrackTools.Bench
{
    /// <summary>
    /// Per-entry cost of turning recorded ctnetlink messages (the golden dump recorded from kernel 6.18) into objects.
    /// Each invocation handles every message of the corpus once and counts as CorpusSize operations: figures are per entry.
    /// </summary>
    [MemoryDiagnoser]
    public class DecoderBenchmarks
    {
        private byte[][] _payloads = [];
        private readonly ConntrackFilter _cidr = new() { SourceAddress = AddressMatch.Parse("10.9.0.0/24") };

        [GlobalSetup]
        public void Setup()
        {
            var bytes = new List<byte>();
            foreach (var raw in File.ReadLines(Path.Combine(AppContext.BaseDirectory, "dump-datagram.hex")))
            {
                string line = raw.Contains('#') ? raw[..raw.IndexOf('#')] : raw;
                foreach (var tok in line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                    bytes.Add(byte.Parse(tok, NumberStyles.HexNumber, CultureInfo.InvariantCulture));
            }
            var all = bytes.ToArray();
            var list = new List<byte[]>();
            var reader = new NetlinkMessageReader(all);
            int offset = 0;
            while (reader.Next())
            {
                int len = (int)reader.Current.Length;
                list.Add(all.AsSpan(offset + Nlmsg.HeaderLength, len - Nlmsg.HeaderLength).ToArray());
                offset += (len + 3) & ~3;
            }
            _payloads = list.ToArray();
            // OperationsPerInvoke is the corpus size, so every figure is per entry.
            if (_payloads.Length != CorpusSize) throw new InvalidOperationException($"The corpus has {_payloads.Length} entries; set CorpusSize to match.");
        }

        private const int CorpusSize = 8;

        /// <summary>Full decode into ConntrackEntry objects (what Get-Conntrack does per entry).</summary>
        [Benchmark(OperationsPerInvoke = CorpusSize)]
        public int DecodeEntries()
        {
            int n = 0;
            foreach (var p in _payloads) n += ConntrackDecoder.Decode(p).Original.SourcePort ?? 0;
            return n;
        }

        /// <summary>Walking every attribute without building objects (the decoder's floor).</summary>
        [Benchmark(OperationsPerInvoke = CorpusSize)]
        public int ScanAttributes()
        {
            int n = 0;
            foreach (var p in _payloads)
            {
                var ad = new AttributeDecoder(p.AsSpan(4), bigEndian: true);
                while (ad.Next()) n += ad.Length;
            }
            return n;
        }

        /// <summary>The raw-bytes prefilter for a CIDR source filter (entries it rejects are never decoded).</summary>
        [Benchmark(OperationsPerInvoke = CorpusSize)]
        public int PrefilterCidr()
        {
            int n = 0;
            foreach (var p in _payloads) if (_cidr.MightMatch(p)) n++;
            return n;
        }
    }
}
