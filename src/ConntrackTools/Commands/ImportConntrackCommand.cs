using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Management.Automation;
using ConntrackTools.Conntrack;
using ConntrackTools.Netlink;

namespace ConntrackTools.Commands;

/// <summary>
/// Re-creates the entries of a file written by Export-Conntrack (save or JSON) or by conntrack -L -o save, in netlink
/// batches: one error per refused line, naming the line; the other lines go on.
/// </summary>
[Cmdlet(VerbsData.Import, "Conntrack", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ConntrackEntry))]
public sealed class ImportConntrackCommand : NetworkNamespaceCmdlet
{
    private const int ProgressId = 0x1c7;

    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("FullName", "FilePath")]
    public string Path { get; set; } = "";

    /// <summary>The file's format; by default it is told from the content (JSON starts with '[' or '{').</summary>
    [Parameter]
    public ConntrackFileFormat? Format { get; set; }

    /// <summary>Write the created entries as the kernel now holds them.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        _ = Namespace; // a namespace that does not exist is an error before the file is read, also with -WhatIf
        string path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            WriteError(new ErrorRecord(new FileNotFoundException($"The file '{path}' does not exist.", path, e), ErrorIds.FileNotFound, ErrorCategory.ObjectNotFound, path));
            return;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteError(new ErrorRecord(e, ErrorIds.FileNotFound, ErrorCategory.ReadError, path));
            return;
        }
        var format = Format ?? Detect(text);
        List<SavedEntryLine> lines = format == ConntrackFileFormat.Json
            ? ConntrackJsonFormat.Parse(text)
            : ConntrackSaveFormat.ParseText(text);
        WriteVerbose($"Read {lines.Count} entries from {path} ({format}).");
        Import(path, lines);
    }

    private static ConntrackFileFormat Detect(string text)
    {
        foreach (char c in text)
        {
            if (char.IsWhiteSpace(c)) continue;
            return c is '[' or '{' ? ConntrackFileFormat.Json : ConntrackFileFormat.Save;
        }
        return ConntrackFileFormat.Save;
    }

    private void Import(string path, List<SavedEntryLine> lines)
    {
        int total = lines.Count, done = 0, created = 0, refused = 0, skipped = 0;
        var progress = new ProgressRecord(ProgressId, "Import-Conntrack", $"Creating entries from {System.IO.Path.GetFileName(path)}");
        var clock = Stopwatch.StartNew();
        long lastProgress = -1000;
        var createdKeys = PassThru ? new HashSet<ConntrackEntryKey>() : null;
        ConntrackImporter? importer = null;
        // ShouldProcess per entry only when it can answer anything but yes (-WhatIf, -Confirm or the preferences
        // asking for them): formatting 100,000 targets nobody sees costs more than the kernel's work.
        bool askEach = WhatIfOrConfirmInEffect();

        void OnResult(ConntrackEntry entry, int lineIndex, NetlinkException? error)
        {
            done++;
            var line = lines[lineIndex];
            if (error is null)
            {
                created++;
                createdKeys?.Add(ConntrackEntryKey.Of(entry) with { Id = 0 });
                return;
            }
            refused++;
            var record = ErrorMapping.ToErrorRecord(error, line);
            record.ErrorDetails = new ErrorDetails($"{path}:{line.LineNumber}: the kernel refused the entry {entry}: {error.Message}");
            WriteError(record);
        }

        try
        {
            for (int i = 0; i < lines.Count; i++)
            {
                var line = lines[i];
                if (line.Entry is null)
                {
                    done++;
                    refused++;
                    WriteError(new ErrorRecord(new FormatException($"{path}:{line.LineNumber}: {line.Error}"), ErrorIds.InvalidLine, ErrorCategory.InvalidData, line));
                    continue;
                }
                line.Entry.NetworkNamespace = NetworkNamespace;
                if (askEach && !ShouldProcess($"line {line.LineNumber}: {line.Entry}", "Create conntrack entry"))
                {
                    done++;
                    skipped++;
                    continue;
                }
                importer ??= new ConntrackImporter(CreateClient(), OnResult);
                importer.Add(line.Entry, i, Cancellation.Token);
                if (clock.ElapsedMilliseconds - lastProgress >= 250)
                {
                    lastProgress = clock.ElapsedMilliseconds;
                    progress.PercentComplete = total == 0 ? 100 : (int)(100L * i / total);
                    progress.StatusDescription = $"{i + 1} of {total} lines sent, {created} created, {refused} refused";
                    WriteProgress(progress);
                }
            }
            importer?.Flush(Cancellation.Token);
        }
        catch (OperationCanceledException)
        {
            throw new PipelineStoppedException();
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            Terminate(e, NetworkNamespace);
        }
        finally
        {
            importer?.Dispose();
            progress.RecordType = ProgressRecordType.Completed;
            WriteProgress(progress);
        }
        WriteVerbose($"Created {created} entries, refused {refused}, skipped {skipped}" +
            (importer is null ? "." : $", in {importer.Datagrams} datagrams of up to {importer.MessagesPerDatagram} messages."));
        if (createdKeys is { Count: > 0 }) WriteCreated(createdKeys);
    }

    private bool WhatIfOrConfirmInEffect()
    {
        static bool IsOn(object? v) => v switch
        {
            SwitchParameter sp => sp.IsPresent,
            bool b => b,
            PSObject o => IsOn(o.BaseObject),
            _ => false,
        };
        if (MyInvocation.BoundParameters.TryGetValue("WhatIf", out var w) ? IsOn(w) : IsOn(GetVariableValue("WhatIfPreference")))
            return true;
        if (MyInvocation.BoundParameters.TryGetValue("Confirm", out var c)) return IsOn(c);
        var pref = GetVariableValue("ConfirmPreference");
        if (pref is PSObject po) pref = po.BaseObject;
        return pref is ConfirmImpact impact && impact != ConfirmImpact.None && impact <= ConfirmImpact.Medium;
    }

    /// <summary>One dump of the namespace; the entries whose zone and original tuple were just created.</summary>
    private void WriteCreated(HashSet<ConntrackEntryKey> keys)
    {
        var found = new List<ConntrackEntry>();
        try
        {
            CreateClient().Dump(new ConntrackFilter(), true, batch =>
            {
                foreach (var e in batch)
                    if (keys.Contains(ConntrackEntryKey.Of(e) with { Id = 0 })) found.Add(e);
            }, Cancellation.Token);
        }
        catch (Exception e) when (e is not PipelineStoppedException)
        {
            Terminate(e, NetworkNamespace);
        }
        foreach (var e in found) WriteObject(e);
    }
}
