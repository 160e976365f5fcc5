using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using ArchUnitNET.Domain;
using ArchUnitNET.Fluent;
using ArchUnitNET.Loader;
using ArchUnitNET.xUnit;
using Xunit;
using static ArchUnitNET.Fluent.ArchRuleDefinition;

namespace ConntrackTools.Tests;

/// <summary>
/// The parts of the module and the arrows allowed between them, checked on the types each part really references
/// (ArchUnitNET reads the compiled IL), not on its using lines. A failure names the type that breaks the rule and
/// what it depends on.
/// </summary>
/// <remarks>
/// A part is a folder under src/ConntrackTools/ and its namespace ConntrackTools.&lt;Folder&gt;. The public output
/// types of the contract live in namespace ConntrackTools but in their part's folder; they belong to that part,
/// found here by reading which types each folder's files declare in the root namespace. The files at the root of
/// the project (the engine's exception base and the error ids) belong to no part: every part may use them.
/// </remarks>
public class ArchitectureTests
{
    /// <summary>Every part and the parts it may reference (besides itself and the shared root files).</summary>
    public static readonly IReadOnlyDictionary<string, string[]> Allowed = new Dictionary<string, string[]>
    {
        ["Netlink"] = [],
        ["Inet"] = [],
        ["Namespaces"] = [],
        ["Conntrack"] = ["Netlink", "Namespaces", "Inet"],
        ["Routing"] = ["Netlink", "Namespaces", "Inet"],
        ["Impact"] = ["Conntrack", "Routing", "Netlink", "Namespaces", "Inet"],
        ["Capture"] = ["Namespaces", "Inet"],
        ["Sockets"] = ["Netlink", "Namespaces", "Inet", "Conntrack"],   // Conntrack only for the socket-entry join (Sockets/ConntrackJoin.cs)
        ["Lab"] = ["Conntrack", "Routing", "Impact", "Capture", "Namespaces", "Netlink", "Inet"],
        ["Health"] = ["Conntrack", "Lab", "Namespaces", "Netlink", "Inet"],
        ["Evidence"] = ["Conntrack", "Routing", "Impact", "Capture", "Health", "Namespaces", "Netlink", "Inet"],
        ["Commands"] = ["*"],
    };

    private static readonly Lazy<Architecture> Module = new(() =>
        new ArchLoader().LoadAssemblies(typeof(ConntrackEntry).Assembly).Build());

    private static readonly Lazy<IReadOnlyDictionary<string, string[]>> RootTypesByPart = new(ReadRootTypes);

    public static TheoryData<string> Parts() => new(Allowed.Keys);

    [Fact]
    public void EveryFolderIsAKnownPart()
    {
        var folders = Directory.EnumerateDirectories(SourceRoot())
            .Select(Path.GetFileName)
            .Where(n => n is not ("bin" or "obj"))
            .ToList();
        Assert.Empty(folders.Except(Allowed.Keys));
        Assert.Empty(Allowed.Keys.Except(folders!));
    }

    [Fact]
    public void EveryTypeBelongsToAPartOrIsShared()
    {
        var assigned = RootTypesByPart.Value.Values.SelectMany(t => t).Concat(SharedRootTypes()).ToHashSet();
        var orphans = Module.Value.Types
            .Where(t => t.Namespace.FullName == "ConntrackTools" && !t.Name.StartsWith('<') && !t.FullName.Contains('+'))
            .Select(t => t.FullName)
            .Where(n => !assigned.Contains(n))
            .ToList();
        Assert.Empty(orphans);
    }

    [Theory]
    [MemberData(nameof(Parts))]
    public void PartReferencesOnlyWhatItMay(string part)
    {
        string[] allowed = Allowed[part];
        if (allowed.Contains("*")) return;
        var forbidden = Allowed.Keys.Where(p => p != part && !allowed.Contains(p)).ToArray();
        IArchRule rule = Types().That().Are(PartTypes(part))
            .Should().NotDependOnAny(PartTypes(forbidden))
            .Because($"{part} may reference only {(allowed.Length == 0 ? "nothing of ours" : string.Join(", ", allowed))}");
        rule.Check(Module.Value);
    }

    [Fact]
    public void OnlyCommandsReferenceSystemManagementAutomation()
    {
        var engine = Allowed.Keys.Where(p => p != "Commands").ToArray();
        IArchRule rule = Types().That().Are(PartTypes(engine))
            .Should().NotDependOnAny(Types().That().ResideInNamespaceMatching(@"^System\.Management\.Automation(\..*)?$"))
            .Because("the engine must be testable without a runspace; only Commands/ speaks PowerShell");
        rule.Check(Module.Value);
    }

    /// <summary>The types of one or more parts: their namespace and the contract types their folder declares.</summary>
    private static IObjectProvider<IType> PartTypes(params string[] parts)
    {
        var names = parts.SelectMany(p => RootTypesByPart.Value.TryGetValue(p, out var t) ? t : []).ToArray();
        string namespaces = string.Join("|", parts.Select(p => Regex.Escape("ConntrackTools." + p)));
        var provider = Types().That().ResideInNamespaceMatching($"^({namespaces})(\\..*)?$");
        foreach (var n in names) provider = provider.Or().HaveFullName(n);
        return provider.As(string.Join(", ", parts));
    }

    /// <summary>Types declared at the root of the project, outside every part.</summary>
    private static IEnumerable<string> SharedRootTypes() =>
        Directory.EnumerateFiles(SourceRoot(), "*.cs", SearchOption.TopDirectoryOnly).SelectMany(DeclaredRootTypes);

    private static IReadOnlyDictionary<string, string[]> ReadRootTypes()
    {
        var map = new Dictionary<string, string[]>();
        foreach (var part in Allowed.Keys)
        {
            string dir = Path.Combine(SourceRoot(), part);
            map[part] = Directory.Exists(dir)
                ? Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories).SelectMany(DeclaredRootTypes).ToArray()
                : [];
        }
        return map;
    }

    private static readonly Regex TypeDeclaration = new(
        @"^(?:public|internal)\s+(?:(?:sealed|abstract|static|partial|readonly|ref)\s+)*(?:class|struct|enum|interface|record(?:\s+struct|\s+class)?)\s+(\w+)",
        RegexOptions.Multiline);

    /// <summary>Top-level types a file declares in the root namespace ConntrackTools.</summary>
    private static IEnumerable<string> DeclaredRootTypes(string file)
    {
        string text = File.ReadAllText(file);
        if (!Regex.IsMatch(text, @"^namespace ConntrackTools;", RegexOptions.Multiline)) return [];
        return TypeDeclaration.Matches(text).Select(m => "ConntrackTools." + m.Groups[1].Value);
    }

    private static string SourceRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "ConntrackTools.psd1"))) dir = dir.Parent;
        Assert.NotNull(dir);
        return Path.Combine(dir!.FullName, "src", "ConntrackTools");
    }
}
