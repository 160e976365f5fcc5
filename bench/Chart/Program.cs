// Usage: Chart <results.json> <out.png>
// results.json: [{ "Label": "...", "Ratio": 0.62, "Target": 1.0 }, ...] — ratio = ours / reference, lower is better.
using System.Text.Json;

var rows = JsonSerializer.Deserialize<List<Row>>(File.ReadAllText(args[0]), new JsonSerializerOptions { PropertyNameCaseInsensitive = true })
           ?? throw new InvalidOperationException("no rows");
var plot = new ScottPlot.Plot();
var bars = new List<ScottPlot.Bar>();
for (int i = 0; i < rows.Count; i++)
{
    bars.Add(new ScottPlot.Bar
    {
        Position = i,
        Value = rows[i].Ratio,
        FillColor = rows[i].Target is double t && rows[i].Ratio <= t ? ScottPlot.Colors.SeaGreen : ScottPlot.Colors.IndianRed,
        Label = rows[i].Ratio.ToString("0.00") + "x",
    });
}
var barPlot = plot.Add.Bars(bars);
barPlot.Horizontal = true;
for (int i = 0; i < rows.Count; i++)
{
    if (rows[i].Target is double t)
    {
        var line = plot.Add.Line(t, i - 0.4, t, i + 0.4);
        line.LineWidth = 2;
        line.LineColor = ScottPlot.Colors.Black;
        line.LinePattern = ScottPlot.LinePattern.Dashed;
    }
}
plot.Axes.Left.SetTicks(Enumerable.Range(0, rows.Count).Select(i => (double)i).ToArray(), rows.Select(r => r.Label).ToArray());
plot.Axes.Left.MinimumSize = 420;
plot.Axes.Margins(left: 0);
plot.XLabel("ours / reference (time or memory); dashed line: target; lower is better");
plot.Title("ConntrackTools vs conntrack-tools / tcpdump (lower is better)");
plot.SavePng(args[1], 1200, 120 + 42 * rows.Count);
Console.WriteLine($"chart: {args[1]}");

record Row(string Label, double Ratio, double? Target);
