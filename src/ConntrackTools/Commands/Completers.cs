using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Language;
using ConntrackTools.Conntrack;
using ConntrackTools.Inet;
using ConntrackTools.Namespaces;

namespace ConntrackTools.Commands;

/// <summary>Completes -NetworkNamespace with the names under /var/run/netns.</summary>
public sealed class NetworkNamespaceCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        Complete(NetworkNamespace.ListNamed(), wordToComplete);

    internal static IEnumerable<CompletionResult> Complete(IEnumerable<string> values, string word)
    {
        string w = (word ?? string.Empty).Trim('\'', '"');
        return values.Where(v => v.StartsWith(w, System.StringComparison.OrdinalIgnoreCase))
            .Select(v => new CompletionResult(v.Any(char.IsWhiteSpace) ? $"'{v}'" : v, v, CompletionResultType.ParameterValue, v));
    }
}

/// <summary>Completes -Protocol with the names the kernel tracks.</summary>
public sealed class ProtocolCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        NetworkNamespaceCompleter.Complete(ProtocolDatabase.Names, wordToComplete);
}

/// <summary>Completes -State with TCP, SCTP and DCCP state names.</summary>
public sealed class StateCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        NetworkNamespaceCompleter.Complete(
            Protocols.TcpStates.Append(Protocols.TcpListen).Concat(Protocols.SctpStates).Concat(Protocols.DccpStates).Distinct(), wordToComplete);
}
