namespace ConntrackTools;

/// <summary>One node check of Test-ConntrackHealth.</summary>
public sealed class HealthCheckResult
{
    public HealthCheckResult(string name, bool passed, object? value, object? threshold, string message)
    {
        Name = name;
        Passed = passed;
        Value = value;
        Threshold = threshold;
        Message = message;
    }

    public string Name { get; }
    public bool Passed { get; }
    public object? Value { get; }
    public object? Threshold { get; }

    /// <summary>What the value means and, when it failed, what to do.</summary>
    public string Message { get; }

    public string? NetworkNamespace { get; init; }

    /// <summary>The inode of the namespace checked (as Get-NetworkNamespace's Id); null for the caller's own.</summary>
    public ulong? NetworkNamespaceId { get; init; }
    /// <summary>For KernelAdvisory.* checks: the advisory, this kernel's status by version and the probe's verdict.</summary>
    public Health.KernelAdvisoryReport? Advisory { get; init; }

    public override string ToString() => $"{(Passed ? "PASS" : "FAIL")} {Name}: {Message}";
}
