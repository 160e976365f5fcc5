// The full dump layer by layer, each against the kernel's floor (bench/floor-dump.c) in the same runs:
//   floor      the C reader: one socket, recv, count message headers
//   floor2     the same program again: a control, its distance from 1.000x is the machine's noise
//   receive    our Netlink layer, decoding off: NetlinkConnection.Dump on one thread, a handler that counts
//   pipelined  NetlinkConnection.DumpPipelined (what Get-Conntrack uses): a receiving thread, a counting handler
//   decode     ConntrackClient.Dump: pipelined receiving and decoding into ConntrackEntry objects, no PowerShell
// What is left between "decode" and Get-Conntrack | Out-Null is PowerShell's own per-object cost.
// Run inside the namespace to dump:  ip netns exec NS dotnet Layers.dll RUNS PATH-TO-floor-dump
// Prints one markdown table row per layer, then an empty line, then rows of where the receiving thread's time went
// in the pipelined layers (its own /proc/thread-self accounting, read as it ends) beside the floor process's CPU
// time. The scheduler charges no thread the time the hypervisor takes from a CPU (steal, with
// CONFIG_PARAVIRT_TIME_ACCOUNTING), so "the rest" of a dump is that, the thread asleep, and the little outside it (the
// socket, the thread's start); interrupts are charged to the thread they interrupt unless CONFIG_IRQ_TIME_ACCOUNTING.
// The layers are timed in a rotating order, after three untimed dumps each.
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
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

// The receiving thread's accounting of the dump being timed: run and runnable-waiting time (schedstat, ns), context
// switches (status). Filled by NetlinkConnection.ReceiverEnding on that thread.
(double Run, double Wait, long Voluntary, long Involuntary) receiver = default;
NetlinkConnection.ReceiverEnding = () =>
{
    var stat = File.ReadAllText("/proc/thread-self/schedstat").Split(' ');
    long Switches(string name) => long.Parse(File.ReadLines("/proc/thread-self/status").First(l => l.StartsWith(name, StringComparison.Ordinal)).Split(':')[1].Trim(), CultureInfo.InvariantCulture);
    receiver = (long.Parse(stat[0], CultureInfo.InvariantCulture) / 1e9, long.Parse(stat[1], CultureInfo.InvariantCulture) / 1e9,
        Switches("voluntary_ctxt_switches"), Switches("nonvoluntary_ctxt_switches"));
};
// Per layer, one row a timed run: the dump's time, and the receiving thread's accounting (for the floor, its
// process's CPU time in Run).
var times = layers.ToDictionary(l => l, _ => new List<(double Wall, double Run, double Wait, long Voluntary, long Involuntary)>());

void Time(string layer, bool record)
{
    counted = 0;
    receiver = default;
    double childCpu = ChildrenCpuSeconds();
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
    if (!record) return;
    times[layer].Add(layer is "floor" or "floor2" ? (seconds, ChildrenCpuSeconds() - childCpu, 0.0, 0L, 0L)
        : (seconds, receiver.Run, receiver.Wait, receiver.Voluntary, receiver.Involuntary));
}

static unsafe double ChildrenCpuSeconds()
{
    // struct rusage begins with ru_utime and ru_stime (struct timeval: seconds, microseconds); 18 longs in all.
    long* usage = stackalloc long[18];
    if (GetRUsage(-1 /* RUSAGE_CHILDREN */, usage) != 0) throw new InvalidOperationException("getrusage failed");
    return usage[0] + usage[1] / 1e6 + usage[2] + usage[3] / 1e6;
}

foreach (var layer in layers) for (int i = 0; i < 3; i++) Time(layer, record: false);
long[] entries = new long[layers.Length];
for (int i = 0; i < runs; i++)
    for (int k = 0; k < layers.Length; k++)
    {
        string layer = layers[(i + k) % layers.Length];
        Time(layer, record: true);
        entries[Array.IndexOf(layers, layer)] = counted;
    }
if (entries.Distinct().Count() != 1) throw new InvalidOperationException("the layers counted different numbers of entries: " + string.Join(", ", entries));

static double Median(IEnumerable<double> v)
{
    var s = v.Order().ToList();
    return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
}
double floor = Median(times["floor"].Select(x => x.Wall));
foreach (var (layer, label) in rows)
{
    var t = times[layer].Select(x => x.Wall).ToList();
    Console.WriteLine($"| {label} | {entries[0]:N0} | {runs} | {Median(t):N3} s | {Median(t) / floor:N3}x | {t.Min():N3} s to {t.Max():N3} s |");
}

// Where the time went, means over the runs: the floor's process on a CPU, against the receiving thread of the
// pipelined layers: on a CPU, runnable but waiting for one, and the rest of the dump (asleep: blocked in the hand-off
// or by a garbage collection it came back to from recv; steal; the socket and the thread's start).
Console.WriteLine();
foreach (var (layer, label) in rows)
{
    if (layer is "receive" or "floor2") continue;
    var t = times[layer];
    double wall = t.Average(x => x.Wall), run = t.Average(x => x.Run);
    if (layer == "floor")
        Console.WriteLine($"| {label} | {t.Count} | {wall:N3} s | {run:N3} s (the process) | | | |");
    else
    {
        double wait = t.Average(x => x.Wait);
        Console.WriteLine($"| {label} | {t.Count} | {wall:N3} s | {run:N3} s | {wait * 1000:N0} ms | {(wall - run - wait) * 1000:N0} ms | {t.Average(x => x.Voluntary):N0} / {t.Average(x => x.Involuntary):N0} |");
    }
}
return 0;

[DllImport("libc", EntryPoint = "getrusage")]
static extern unsafe int GetRUsage(int who, long* usage);
