using System;
using System.IO;
using System.Management.Automation;
using System.Text;
using ConntrackTools.Conntrack;

namespace ConntrackTools.Commands;

/// <summary>Writes the selected entries to a file in conntrack's -o save format or as flat JSON.</summary>
[Cmdlet(VerbsData.Export, "Conntrack", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(FileInfo))]
public sealed class ExportConntrackCommand : ConntrackFilterCmdlet
{
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    [Alias("FilePath")]
    public string Path { get; set; } = "";

    [Parameter]
    public ConntrackFileFormat Format { get; set; } = ConntrackFileFormat.Save;

    /// <summary>Refuse to overwrite an existing file.</summary>
    [Parameter]
    public SwitchParameter NoClobber { get; set; }

    /// <summary>Write the file's FileInfo.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void EndProcessing()
    {
        var filter = BuildFilter();
        string path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);
        if (NoClobber && File.Exists(path))
            ThrowTerminatingError(new ErrorRecord(new IOException($"The file '{path}' already exists (-NoClobber)."),
                ErrorIds.CannotWriteFile, ErrorCategory.ResourceExists, path));
        if (!ShouldProcess(path, $"Export conntrack entries ({Format})")) return;

        var client = CreateClient();
        var plan = filter.PlanDump(client.Features, !NoKernelFilter);
        WriteVerbose($"Kernel filter: {plan.KernelPart}; user-space filter: {plan.UserPart}.");
        string temp = path + ".tmp-" + Environment.ProcessId;
        long written = 0;
        DumpResult? result = null;
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            using (var writer = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16) { NewLine = "\n" })
            {
                var labels = ConntrackSaveFormat.ReadLabelNames(ConntrackSaveFormat.LabelConfigPath);
                ConntrackJsonFormat.ConntrackJsonWriter? json = Format == ConntrackFileFormat.Json ? new(writer) : null;
                // The dump's sink runs on this thread, as each batch is decoded: the file is written while the kernel dumps.
                result = client.Dump(filter, !NoKernelFilter, batch =>
                {
                    if (json is not null) foreach (var e in batch) json.Add(e);
                    else ConntrackSaveFormat.Write(writer, batch, labels);
                    written += batch.Length;
                }, Cancellation.Token);
                json?.Dispose();
            }
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            ThrowTerminatingError(new ErrorRecord(e, ErrorIds.CannotWriteFile, ErrorCategory.WriteError, path));
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            TryDelete(temp);
            Terminate(e, NetworkNamespace);
        }
        if (result?.FallbackReason is not null) WriteVerbose("Kernel filter refused: " + result.FallbackReason + ".");
        WriteVerbose($"Wrote {written} entries to {path} ({Format}); the kernel sent {result?.Received} in {result?.Datagrams} datagrams.");
        if (result?.Inconsistent == true)
            WriteWarning("The kernel flagged the dump as inconsistent (NLM_F_DUMP_INTR): entries that changed during the dump may be missing from the file.");
        if (PassThru) WriteObject(new FileInfo(path));
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

}
