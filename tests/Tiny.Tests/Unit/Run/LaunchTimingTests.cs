using Tiny.Runtime.Launch;
using Tiny.Runtime.Plan;

namespace Tiny.Tests.Unit.Run;

public class LaunchTimingTests
{
    static readonly ChildStep[] Steps =
    [
        new CloseFd(5),
        new WaitForParent(4),
        new MountStep(null, "/r/proc", "proc", 0),
        new SetHostname("box"),
        new MakeDirectory("/r/dev", 0x1ed),
        new PivotRoot("/r"),
        new SetUid(0),
        new SetCapabilities(1, 1, 1),
        new LoadSeccompFilter([0, 0, 0, 0, 0, 0, 0, 0]),
        new Exec(["/bin/true"], ["true"], []),
    ];

    static string[] Lines(LaunchTiming timing) =>
        timing.Phases.Select(p => $"{p.Name} {p.Nanoseconds}").Append($"total {timing.Total}").ToArray();

    [Test]
    public async Task Phases_follow_each_other_and_child_steps_add_up_per_kind()
    {
        var timing = new LaunchTiming(start: 1000);
        timing.Mark("parse/spec", 1100);
        timing.Mark("clone", 1500);
        timing.Mark("cgroup create + join", 2000);
        // The child closed an fd before it waited (overlapping the parent's work), woke at 2050, then stepped on.
        timing.AddChildSteps(Steps, [1400, 2050, 2150, 2160, 2200, 2500, 2510, 2530, 2600, 0]);
        timing.Mark("exec", 3000);
        timing.Mark("container run", 4000);

        await Assert.That(Lines(timing)).IsEquivalentTo(
        [
            "parse/spec 100", "clone 400", "cgroup create + join 500", "child wake-up 50",
            "child mounts 140", "child other setup 10", "child pivot_root 300", "child caps + ids 30",
            "child seccomp load 70", "exec 400", "container run 1000", "total 3000",
        ], CollectionOrdering.Matching);
        await Assert.That(timing.Phases.Sum(p => p.Nanoseconds)).IsEqualTo(timing.Total);
    }

    [Test]
    public async Task A_child_released_before_clone_has_the_clone_in_its_wake_up()
    {
        var timing = new LaunchTiming(start: 1000);
        timing.Mark("cgroup create", 1100);
        timing.AddChildSteps(Steps, [1150, 1400, 1450, 1460, 1500, 1600, 1610, 1630, 1700, 1900], releasedBeforeClone: true);
        await Assert.That(Lines(timing).Take(2)).IsEquivalentTo(
            ["cgroup create 100", "clone + child wake-up 300"], CollectionOrdering.Matching);
        await Assert.That(timing.Phases.Sum(p => p.Nanoseconds)).IsEqualTo(timing.Total);
    }

    [Test]
    public async Task Steps_the_child_did_not_reach_are_left_out()
    {
        var timing = new LaunchTiming(start: 0);
        timing.Mark("cgroup create + join", 100);
        timing.AddChildSteps(Steps, [50, 120, 200, 0, 0, 0, 0, 0, 0, 0]);
        timing.Mark("failure report", 260);

        await Assert.That(Lines(timing)).IsEquivalentTo(
            ["cgroup create + join 100", "child wake-up 20", "child mounts 80", "failure report 60", "total 260"],
            CollectionOrdering.Matching);
    }

    [Test]
    public async Task A_failed_exec_counts_as_exec()
    {
        var timing = new LaunchTiming(start: 0);
        timing.Mark("cgroup create + join", 100);
        timing.AddChildSteps(Steps, [50, 110, 120, 130, 140, 150, 160, 170, 180, 400]);
        await Assert.That(timing.Phases[^1]).IsEqualTo(("exec", 220L));
    }

    [Test]
    public async Task The_report_prints_microseconds_and_the_total()
    {
        var timing = new LaunchTiming(start: 0);
        timing.Mark("parse/spec", 12_345);
        timing.Mark("clone", 1_012_345);
        await Assert.That(timing.Format()).IsEqualTo(
            "tiny timing (microseconds, parent's clock):\n" +
            "  parse/spec                    12.3\n" +
            "  clone                       1000.0\n" +
            "  total                       1012.3\n");
    }

    [Test]
    public async Task The_native_plan_has_zeroed_step_ends_only_when_timed()
    {
        using var timed = new NativePlan(Steps, errorFd: 3, recordStepEnds: true);
        using var untimed = new NativePlan(Steps, errorFd: 3);
        await Assert.That(timed.StepEnds.ToArray()).IsEquivalentTo(new long[Steps.Length]);
        await Assert.That(untimed.StepEnds.Length).IsEqualTo(0);
    }
}
