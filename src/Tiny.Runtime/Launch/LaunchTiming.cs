using System.Text;
using Tiny.Interop;
using Tiny.Runtime.Plan;

namespace Tiny.Runtime.Launch;

/// <summary>
/// Where <c>tiny run --timing</c> spends its time, as consecutive phases on the parent's CLOCK_MONOTONIC. The parent
/// marks the end of each of its phases; the child's steps after it is released are read from the timestamps it left
/// in shared memory (<see cref="NativePlan.StepEnds"/>) and summed per kind of step, so the phases add up to the total.
/// What the child does before it is released (its mounts, when it is released just before pivot_root) has no phase of
/// its own: it falls in the wake-up.
/// </summary>
public sealed class LaunchTiming(long start)
{
    readonly List<(string Name, long Nanoseconds)> _phases = [];
    readonly long _start = start;
    long _lastEnd = start;

    public IReadOnlyList<(string Name, long Nanoseconds)> Phases => _phases;

    public long Total => _lastEnd - _start;

    public static LaunchTiming StartNow() => new(Clock.MonotonicNanoseconds());

    /// <summary>A timing started now if <paramref name="asked"/> (--timing) or TINY_TIMING=1, else null.</summary>
    public static LaunchTiming? StartIfAsked(bool asked = false) =>
        asked || Environment.GetEnvironmentVariable("TINY_TIMING") == "1" ? StartNow() : null;

    /// <summary>Ends the current phase now.</summary>
    public void Mark(string phase) => Mark(phase, Clock.MonotonicNanoseconds());

    /// <summary>Ends the current phase at <paramref name="end"/> (nanoseconds on CLOCK_MONOTONIC).</summary>
    public void Mark(string phase, long end)
    {
        Add(phase, end - _lastEnd);
        _lastEnd = end;
    }

    /// <summary>
    /// The child's phases from the parent's release to its last timestamp: the wake-up (until
    /// <see cref="WaitForParent"/> returned), then each later step's time added to its kind's phase. A step the child
    /// did not reach has no timestamp (0) and ends the list. A child released before clone
    /// (<see cref="ContainerPlan.ReleasedBeforeClone"/>) returns from clone only when it has exec'd: its first phase,
    /// "clone + child wake-up", is then the clone too.
    /// </summary>
    public void AddChildSteps(IReadOnlyList<ChildStep> steps, ReadOnlySpan<long> stepEnds, bool releasedBeforeClone = false)
    {
        var released = steps.Select((step, index) => (step, index)).FirstOrDefault(s => s.step is WaitForParent).index;
        for (var i = released; i < steps.Count && stepEnds[i] != 0; i++)
            Mark(i != released ? PhaseOf(steps[i]) : releasedBeforeClone ? "clone + child wake-up" : "child wake-up", stepEnds[i]);
    }

    public static string PhaseOf(ChildStep step) => step switch
    {
        MountStep or MaskPath or ReadonlyPath or RemountReadonly or MakeDirectory or MakeDevice or Symlink => "child mounts",
        PivotRoot => "child pivot_root",
        DropBoundingSet or SetKeepCapabilities or SetGroups or SetGid or SetUid or SetCapabilities
            or ClearAmbientCapabilities or SetNoNewPrivileges => "child caps + ids",
        LoadSeccompFilter => "child seccomp load",
        JoinCgroup => "child cgroup join",
        Exec or ExecThroughTrampoline => "exec",
        _ => "child other setup",
    };

    /// <summary>One line per phase in microseconds, then the total.</summary>
    public string Format()
    {
        var text = new StringBuilder("tiny timing (microseconds, parent's clock):\n");
        foreach (var (name, nanoseconds) in _phases) Line(text, name, nanoseconds);
        Line(text, "total", Total);
        return text.ToString();
    }

    static void Line(StringBuilder text, string name, long nanoseconds) =>
        text.Append("  ").Append(name.PadRight(24)).Append((nanoseconds / 1000.0).ToString("F1").PadLeft(10)).Append('\n');

    void Add(string phase, long nanoseconds)
    {
        var index = _phases.FindIndex(p => p.Name == phase);
        if (index < 0) _phases.Add((phase, nanoseconds));
        else _phases[index] = (phase, _phases[index].Nanoseconds + nanoseconds);
    }
}
