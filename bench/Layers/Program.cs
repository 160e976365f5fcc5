// The full dump layer by layer, each against the kernel's floor (bench/floor-dump.c) in the same runs:
//   floor      the C reader: one socket, recv, count message headers
//   floor2     the same program again: a control, its distance from 1.000x is the machine's noise
//   receive    our Netlink layer, decoding off: NetlinkConnection.Dump on one thread, a handler that counts
//   pipelined  NetlinkConnection.DumpPipelined (what Get-Conntrack uses): a receiving thread, a counting handler
//   decode     ConntrackClient.Dump: pipelined receiving and decoding into ConntrackEntry objects, no PowerShell
// What is left between "decode" and Get-Conntrack | Out-Null is PowerShell's own per-object cost.
// Run inside the namespace to dump:  ip netns exec NS dotnet Layers.dll RUNS PATH-TO-floor-dump
// Prints one markdown table row per layer. The layers are timed in a rotating order, after three untimed dumps each.
using System.Diagnostics;
using ConntrackTools.Conntrack;
using ConntrackTools.Netlink;

if (args.Length < 2 || !int.TryParse(args[0], out int runs) || runs < 1)
{
    Console.Error.WriteLine("usage: Layers RUNS PATH-TO-floor-dump   (inside the namespace to dump)");
    return 2;
}
string floorPath = args[1];
// Each layer's key and the label of its row, in the order of the table.
(string Key, string Label)[] rows =
[
    ("floor", "C floor (bench/floor-dump.c)"),
    ("receive", "receiving only, one thread (NetlinkConnection.Dump)"),
    ("floor2", "C floor again (control)"),
    ("pipelined", "receiving only, pipelined (DumpPipelined)"),
    ("decode", "pipelined and decoded, no PowerShell (ConntrackClient.Dump)"),
];
string[] layers = [.. rows.Select(r => r.Key)];
long counted = 0;
void Count(in NetlinkMessage m) => counted++;
// IPCTNL_MSG_CT_GET, family AF_UNSPEC: the floor's request.
MessageBuilder Request() => new MessageBuilder(Cta.MessageType(Cta.IPCTNL_MSG_CT_GET), 0, bigEndian: true).NfGenMsg(0);

double Time(string layer)
{
    counted = 0;
    var sw = Stopwatch.StartNew();
    switch (layer)
    {
        case "floor":
        case "floor2":
            using (var p = Process.Start(new ProcessStartInfo(floorPath) { RedirectStandardOutput = true })!)
            {
                counted = long.Parse(p.StandardOutput.ReadToEnd().Trim());
                p.WaitForExit();
                if (p.ExitCode != 0) throw new InvalidOperationException($"{floorPath} exited with {p.ExitCode}");
            }
            break;
        case "receive":
            using (var c = new NetlinkConnection(NetlinkSocket.Open(NetlinkProtocol.Netfilter))) c.Dump(Request(), "dump", Count);
            break;
        case "pipelined":
            using (var c = new NetlinkConnection(NetlinkSocket.Open(NetlinkProtocol.Netfilter)))
                NetlinkConnection.DumpPipelined([c], [Request()], "dump", Count);
            break;
        case "decode":
            new ConntrackClient(ns: null).Dump(new ConntrackFilter(), kernelFiltering: true, batch => counted += batch.Length);
            break;
    }
    double seconds = sw.Elapsed.TotalSeconds;
    if (counted == 0) throw new InvalidOperationException($"{layer}: the dump returned no entries");
    return seconds;
}

foreach (var layer in layers) for (int i = 0; i < 3; i++) Time(layer);
var times = layers.ToDictionary(l => l, _ => new List<double>());
long[] entries = new long[layers.Length];
for (int i = 0; i < runs; i++)
    for (int k = 0; k < layers.Length; k++)
    {
        string layer = layers[(i + k) % layers.Length];
        times[layer].Add(Time(layer));
        entries[Array.IndexOf(layers, layer)] = counted;
    }
if (entries.Distinct().Count() != 1) throw new InvalidOperationException("the layers counted different numbers of entries: " + string.Join(", ", entries));

static double Median(List<double> v)
{
    var s = v.Order().ToList();
    return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
}
double floor = Median(times["floor"]);
foreach (var (layer, label) in rows)
{
    var t = times[layer];
    Console.WriteLine($"| {label} | {entries[0]:N0} | {runs} | {Median(t):N3} s | {Median(t) / floor:N3}x | {t.Min():N3} s to {t.Max():N3} s |");
}
return 0;
