using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using ConntrackTools.Namespaces;
using ConntrackTools.Routing;

namespace ConntrackTools.Commands;

/// <summary>
/// Completes -InterfaceName with the interfaces of the namespace the command line names (-NetworkNamespace or one of
/// its aliases, when already typed), or of the caller's own namespace: the links are listed over rtnetlink inside
/// that namespace (Routing.InterfaceList). Completion never fails: without the rights to enter the namespace, or for a
/// namespace that does not exist, it offers nothing.
/// </summary>
public sealed class InterfaceNameCompleter : IArgumentCompleter
{
    private static readonly string[] NamespaceParameter = { "NetworkNamespace", "NetNs", "Namespace" };

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        IReadOnlyList<string> names;
        try
        {
            string? spec = NamespaceParameter.Where(p => fakeBoundParameters?.Contains(p) == true)
                .Select(p => fakeBoundParameters![p]?.ToString()).FirstOrDefault(s => !string.IsNullOrEmpty(s));
            names = InterfaceList.Names(spec is null ? null : NetworkNamespace.Resolve(spec));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return Array.Empty<CompletionResult>();
        }
        return NetworkNamespaceCompleter.Complete(names, wordToComplete);
    }
}
