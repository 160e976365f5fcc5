using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using System.Net;
using System.Net.Sockets;
using ConntrackTools.Conntrack;
using ConntrackTools.Inet;

namespace ConntrackTools.Commands;

/// <summary>Deletes expectations: the ones piped in, all of a helper, or all (conntrack -D expect).</summary>
[Cmdlet(VerbsCommon.Remove, "ConntrackExpectation", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = "InputObject")]
[OutputType(typeof(void))]
public sealed class RemoveConntrackExpectationCommand : NetworkNamespaceCmdlet
{
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "InputObject", Position = 0)]
    public ConntrackExpectation[] InputObject { get; set; } = [];

    /// <summary>Every expectation of this helper (deleted by the kernel in one request).</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Helper")]
    [ValidateNotNullOrEmpty]
    public string Helper { get; set; } = "";

    /// <summary>The whole expectation table of the namespace.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "All")]
    public SwitchParameter All { get; set; }

    private int _removed, _gone;

    protected override void ProcessRecord()
    {
        if (ParameterSetName != "InputObject") return;
        var client = new ExpectationClient(CreateClient());
        foreach (var x in InputObject)
        {
            if (!ShouldProcess(x.ToString(), "Remove conntrack expectation")) continue;
            try
            {
                if (client.Delete(x)) _removed++;
                else
                {
                    _gone++;
                    WriteError(new ErrorRecord(new ItemNotFoundException($"The expectation {x} does not exist (any more)."),
                        ErrorIds.EntryNotFound, ErrorCategory.ObjectNotFound, x));
                }
            }
            catch (Exception e) when (e is not PipelineStoppedException)
            {
                WriteEngineError(e, x);
            }
        }
    }

    protected override void EndProcessing()
    {
        if (ParameterSetName == "InputObject")
        {
            WriteVerbose($"Removed {_removed} expectations; {_gone} were already gone.");
            return;
        }
        string target = ParameterSetName == "Helper" ? $"all expectations of helper {Helper}" : "all expectations";
        if (!ShouldProcess(target + (NetworkNamespace is null ? "" : $" in {NetworkNamespace}"), "Remove conntrack expectations")) return;
        try
        {
            new ExpectationClient(CreateClient()).DeleteAll(ParameterSetName == "Helper" ? Helper : null);
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            Terminate(e, NetworkNamespace);
        }
    }
}
