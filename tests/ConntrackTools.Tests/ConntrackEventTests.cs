using System.Linq;
using System.Reflection;
using Xunit;

namespace ConntrackTools.Tests;

/// <summary>The contract: every ConntrackEntry property is readable on the event, under the same name and type.</summary>
public class ConntrackEventTests
{
    private static readonly PropertyInfo[] EntryProperties =
        typeof(ConntrackEntry).GetProperties(BindingFlags.Public | BindingFlags.Instance);

    public static TheoryData<string> EntryPropertyNames()
    {
        var data = new TheoryData<string>();
        foreach (var p in EntryProperties) data.Add(p.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(EntryPropertyNames))]
    public void EventForwardsEntryProperty(string name)
    {
        var entryProperty = typeof(ConntrackEntry).GetProperty(name)!;
        var eventProperty = typeof(ConntrackEvent).GetProperty(name);
        Assert.NotNull(eventProperty);
        Assert.Equal(entryProperty.PropertyType, eventProperty!.PropertyType);
        var e = EventDecoderTests.Event("event-destroy", "ctt-x");
        Assert.Equal(entryProperty.GetValue(e.Entry), eventProperty.GetValue(e));
    }

    [Fact]
    public void EventIsReadOnly()
    {
        // Read-only to users: no public setter (the engine fills the initiator through internal ones).
        var writable = typeof(ConntrackEvent).GetProperties().Where(p => p.SetMethod is { IsPublic: true }).Select(p => p.Name);
        Assert.Empty(writable);
    }

    [Fact]
    public void EventConvertsToItsEntry_ForPipelineBinding()
    {
        var e = EventDecoderTests.Event("event-new");
        ConntrackEntry entry = e;
        Assert.Same(e.Entry, entry);
    }
}
