using System;
using System.Management.Automation;
using ConntrackTools.Lab;
using ConntrackTools.Namespaces;

namespace ConntrackTools.Commands;

/// <summary>
/// Reproduces the incident (a VIP added to and deleted from a masquerading node's uplink) and judges whether this
/// kernel loses the conntrack entries of live connections, in a sandbox of private namespaces or on a real interface.
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "VipMigration", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = SandboxSet)]
[OutputType(typeof(VipMigrationResult))]
public sealed class TestVipMigrationCommand : NetworkNamespaceCmdlet
{
    private const string SandboxSet = "Sandbox";
    private const string InterfaceSet = "Interface";

    /// <summary>Number of long-lived TCP connections through the NAT (sandbox).</summary>
    [Parameter(ParameterSetName = SandboxSet)]
    [ValidateRange(1, 1000)]
    public int Connections { get; set; } = 8;

    /// <summary>The VIP, as address or address/prefix.</summary>
    [Parameter(ParameterSetName = SandboxSet)]
    [Parameter(ParameterSetName = InterfaceSet, Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string Address { get; set; } = "192.168.11.100/32";

    /// <summary>How long the VIP stays before it is deleted; a bare number is seconds.</summary>
    [Parameter]
    [SecondsToTimeSpan]
    public TimeSpan HoldTime { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Make the sandbox behave like an unfixed kernel (teaching and demo aid).</summary>
    [Parameter(ParameterSetName = SandboxSet)]
    public SwitchParameter EmulateLegacyKernel { get; set; }

    /// <summary>Run on this real interface instead of the sandbox.</summary>
    [Parameter(ParameterSetName = InterfaceSet, Mandatory = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(InterfaceNameCompleter))]
    public string InterfaceName { get; set; } = "";

    protected override void EndProcessing()
    {
        bool sandbox = ParameterSetName == SandboxSet;
        if (sandbox && NetworkNamespace is not null)
            ThrowTerminatingError(ErrorMapping.InvalidArgument(ErrorIds.InvalidArgument,
                "The sandbox makes its own namespaces; -NetworkNamespace goes with -InterfaceName.", NetworkNamespace));
        var options = new VipMigrationOptions
        {
            Connections = Connections,
            Address = Address,
            HoldTime = HoldTime,
            EmulateLegacyKernel = EmulateLegacyKernel,
            InterfaceName = sandbox ? null : InterfaceName,
            Namespace = sandbox ? null : Namespace,
        };
        // Bad arguments are refused as such before the privilege check: a user without root learns both, in order.
        try { VipMigrationRunner.Validate(options); }
        catch (InvalidValueException e) { Terminate(e, null); }
        try { Privileges.RequireNetworkAdmin("Test-VipMigration (it adds and deletes addresses and builds network namespaces)"); }
        catch (InsufficientPrivilegeException e) { Terminate(e, null); }
        string target = sandbox ? "a sandbox of private network namespaces" : $"interface {InterfaceName}{(NetworkNamespace is null ? "" : $" in network namespace '{NetworkNamespace}'")}";
        if (!ShouldProcess(target, $"Add and delete {Address}")) return;

        VipMigrationResult? result = null;
        const int activity = 1;
        var progress = new ProgressRecord(activity, "Test-VipMigration", "Starting");
        try
        {
            using var queue = new ProducerQueue<LabNotice>((add, token) =>
            {
                // Notices are best effort: once the pipeline is stopping they are dropped, never thrown into the runner.
                var runner = new VipMigrationRunner(options, n =>
                {
                    try { add([n]); }
                    catch (OperationCanceledException) { }
                    catch (InvalidOperationException) { }
                });
                result = sandbox ? runner.RunSandbox(token) : runner.RunInterface(token);
            }, Cancellation.Token, name: "Test-VipMigration");
            foreach (var batch in queue.Consume())
            {
                foreach (var n in batch)
                {
                    if (n.Verbose is not null) WriteVerbose(n.Verbose);
                    if (n.Warning is not null) WriteWarning(n.Warning);
                    if (n.Percent >= 0)
                    {
                        progress.StatusDescription = n.Status;
                        progress.PercentComplete = n.Percent;
                        WriteProgress(progress);
                    }
                }
            }
            if (queue.Failure is not null) Terminate(queue.Failure, target);
        }
        finally
        {
            progress.RecordType = ProgressRecordType.Completed;
            WriteProgress(progress);
        }
        if (result is not null) WriteObject(result);
    }
}
