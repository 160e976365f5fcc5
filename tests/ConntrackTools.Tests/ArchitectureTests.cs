using System;
using System.IO;
using System.Linq;
using Xunit;

namespace ConntrackTools.Tests;

/// <summary>The layering rule: only Commands/ may use PowerShell types; the engine must be testable without a runspace.</summary>
public class ArchitectureTests
{
    private static string SourceRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ConntrackTools.psd1"))) dir = dir.Parent;
        Assert.NotNull(dir);
        return Path.Combine(dir!.FullName, "src", "ConntrackTools");
    }

    [Fact]
    public void OnlyCommandsReferenceSystemManagementAutomation()
    {
        var root = SourceRoot();
        var offenders = Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Where(f => !Path.GetRelativePath(root, f).StartsWith("Commands" + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            .Where(f => File.ReadAllText(f).Contains("System.Management.Automation"))
            .Select(f => Path.GetRelativePath(root, f))
            .ToList();
        Assert.Empty(offenders);
    }
}
