using System.Text.Json;
using System.Text.Json.Nodes;
using Tiny.Runtime;
using Tiny.Runtime.Oci;
using Tiny.Runtime.Plan;
using Tiny.Runtime.Spec;

namespace Tiny.Tests.Unit.Oci;

/// <summary>config.json's hooks: what is checked, and where the plan runs the container's own and waits for the runtime's.</summary>
public class OciHookConfigTests
{
    static readonly string Bundle = Directory.CreateTempSubdirectory("tiny-oci-hooks-unit-").FullName;

    static OciHookConfigTests() => Directory.CreateDirectory(Path.Combine(Bundle, "rootfs"));

    [After(Class)]
    public static void RemoveBundle() => Directory.Delete(Bundle, recursive: true);

    static OciContainer Convert(string hooks)
    {
        var config = JsonNode.Parse(JsonSerializer.Serialize(OciSpec.DefaultConfig(cgroupNamespace: true), OciJsonContext.Default.OciConfig))!.AsObject();
        config["process"]!["terminal"] = false;
        config["hooks"] = JsonNode.Parse(hooks);
        return OciConversion.ToContainer(OciConfigReaderTests.Parse(config.ToJsonString()), Bundle, "c1", _ => false);
    }

    [Test]
    [Arguments("""{"prestart": [{"path": "hook.sh"}]}""", "config.json: hooks.prestart[0].path \"hook.sh\" must be an absolute path")]
    [Arguments("""{"poststop": [{"path": "/bin/true"}, {"args": ["x"]}]}""", "config.json: hooks.poststop[1].path is required")]
    [Arguments("""{"createRuntime": [{"path": "/bin/true", "timeout": 0}]}""", "config.json: hooks.createRuntime[0].timeout 0 must be greater than zero")]
    [Arguments("""{"startContainer": [{"path": "/bin/true", "timeout": -5}]}""", "config.json: hooks.startContainer[0].timeout -5 must be greater than zero")]
    public async Task A_bad_hook_is_refused_naming_it(string hooks, string message)
    {
        var error = Assert.Throws<ContainerError>(() => Convert(hooks));
        await Assert.That(error.Message).IsEqualTo(message);
        await Assert.That(error.ExitCode).IsEqualTo(125);
    }

    [Test]
    public async Task Hooks_keep_their_kind_order_args_env_and_timeout()
    {
        var hooks = Convert("""
            {"createRuntime": [{"path": "/a", "args": ["a", "1"], "env": ["K=V"], "timeout": 3}, {"path": "/b"}],
             "poststop": [], "unknown": [{"path": "/c"}]}
            """).Spec.Hooks!;
        await Assert.That(hooks[HookKind.CreateRuntime]).IsEquivalentTo(new[] { new Hook("/a", ["a", "1"], ["K=V"], 3), new Hook("/b", [], null, null) });
        await Assert.That(hooks[HookKind.CreateRuntime][1].Argv).IsEquivalentTo(new[] { "/b" });
        await Assert.That(hooks[HookKind.Poststop]).IsEmpty();
        await Assert.That(hooks.PausesBeforePivot).IsTrue();
        await Assert.That(Convert("""{"poststop": []}""").Spec.Hooks).IsNull();
    }

    [Test]
    public async Task Features_list_the_six_hooks() =>
        await Assert.That(OciSpec.Features("test").Hooks).IsEquivalentTo(new[] { "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop" });

    [Test]
    public async Task The_plan_waits_for_the_runtimes_hooks_then_runs_createContainer_before_pivot_root_and_startContainer_after_start()
    {
        var spec = Convert("""
            {"prestart": [{"path": "/p"}], "createContainer": [{"path": "/c", "env": ["E=1"]}],
             "startContainer": [{"path": "/s", "args": ["s", "x"], "timeout": 2}]}
            """).Spec;
        var hookFds = new ContainerPlan.HookChannel(InputReads: [20, 22], InputWrites: [21, 23], Output: 24);
        var channel = new ContainerPlan.Channel(SyncRead: 5, SyncWrite: 6, ErrorRead: 7, ErrorWrite: 8, Hooks: hookFds);
        var steps = ContainerPlan.Build(spec, channel, null, signalMask: 0, lastCap: 40, networkMounts: [], execFifo: "/proc/self/fd/9").Steps;
        int IndexOf(ChildStep step) => steps.ToList().IndexOf(step);

        await Assert.That(IndexOf(new CloseFd(21))).IsLessThan(IndexOf(new WaitForParent(5)));
        await Assert.That(IndexOf(new CloseFd(23))).IsLessThan(IndexOf(new WaitForParent(5)));
        // The sync pipe stays open for the second wait, and closes after it.
        await Assert.That(steps.Count(s => s == new CloseFd(5))).IsEqualTo(1);
        var pause = IndexOf(new PauseForHooks(8, 5));
        var pivot = steps.ToList().FindIndex(s => s is PivotRoot);
        await Assert.That(pause).IsGreaterThan(steps.ToList().FindLastIndex(s => s is MountInRoot));
        await Assert.That(steps[pause + 1]).IsEqualTo(new CloseFd(5));
        await Assert.That(steps[pause + 2]).IsEqualTo(new RunHook(HookKind.CreateContainer, 0, new Hook("/c", [], ["E=1"], null), ["E=1"], 20, 24));
        await Assert.That(pause + 3).IsEqualTo(pivot);

        var start = steps.ToList().FindIndex(s => s is WaitForStart);
        await Assert.That(steps[start]).IsEqualTo(new WaitForStart("/proc/self/fd/9", 8));
        // Without env, the hook gets the process's, as runc's init passes its own.
        await Assert.That(steps[start + 1]).IsEqualTo(new RunHook(HookKind.StartContainer, 0, new Hook("/s", ["s", "x"], null, 2), spec.Env, 22, 24));
        await Assert.That(steps[^1]).IsTypeOf<Exec>();
    }

    [Test]
    public async Task Without_runtime_hooks_the_child_does_not_wait_a_second_time()
    {
        var spec = Convert("""{"poststop": [{"path": "/p"}]}""").Spec;
        var channel = new ContainerPlan.Channel(SyncRead: 5, SyncWrite: 6, ErrorRead: 7, ErrorWrite: 8);
        var steps = ContainerPlan.Build(spec, channel, null, signalMask: 0, lastCap: 40, networkMounts: [], execFifo: "/proc/self/fd/9").Steps;
        await Assert.That(steps.OfType<PauseForHooks>()).IsEmpty();
        await Assert.That(steps.OfType<RunHook>()).IsEmpty();
        await Assert.That(steps.ToList().IndexOf(new CloseFd(5))).IsEqualTo(steps.ToList().IndexOf(new WaitForParent(5)) + 1);
    }

    [Test]
    [Arguments(HookOutcome.Exited, 3, "exit status 3")]
    [Arguments(HookOutcome.Signalled, 9, "killed by signal 9")]
    [Arguments(HookOutcome.TimedOut, 0, "timed out after 2s (killed)")]
    [Arguments(HookOutcome.ExecFailed, 2, "exec: no such file or directory")]
    public async Task An_outcome_is_told_apart_from_an_errno_and_keeps_the_hooks_index(int outcome, int detail, string text)
    {
        var value = HookOutcome.Encode(4, outcome, detail);
        await Assert.That(HookOutcome.IsHookOutcome(value)).IsTrue();
        await Assert.That(HookOutcome.IsHookOutcome(4095)).IsFalse();
        await Assert.That(HookOutcome.IndexOf(value)).IsEqualTo(4);
        await Assert.That(HookOutcome.Describe(value, 2)).IsEqualTo(text);
    }

    [Test]
    public async Task A_wait_status_becomes_an_exit_status_or_a_signal()
    {
        await Assert.That(HookOutcome.Describe(HookOutcome.FromWaitStatus(0, 3 << 8), null)).IsEqualTo("exit status 3");
        await Assert.That(HookOutcome.Describe(HookOutcome.FromWaitStatus(0, 9), null)).IsEqualTo("killed by signal 9");
    }

    [Test]
    public async Task The_native_plan_carries_a_hooks_path_argv_envp_fds_timeout_and_index()
    {
        ChildStep[] steps = [new PauseForHooks(8, 5), new RunHook(HookKind.StartContainer, 2, new Hook("/h", [], null, 3), ["A=1"], 20, 24)];
        var decoded = Decode(steps);
        await Assert.That(decoded).IsEquivalentTo(["PauseForHooks 8 5", "RunHook /h /h A=1 20 24 3000 2"], CollectionOrdering.Matching);
    }

    static unsafe string[] Decode(ChildStep[] steps)
    {
        static string Utf8(long pointer) => System.Runtime.InteropServices.Marshal.PtrToStringUTF8((nint)pointer)!;
        static string Strings(long array)
        {
            List<string> values = [];
            for (var p = (long*)array; *p != 0; p++) values.Add(Utf8(*p));
            return string.Join(',', values);
        }
        using var native = new Tiny.Runtime.Launch.NativePlan(steps, errorFd: 8);
        var s = native.Plan->Steps;
        return [$"{s[0].Op} {s[0].A} {s[0].B}", $"{s[1].Op} {Utf8(s[1].A)} {Strings(s[1].B)} {Strings(s[1].C)} {s[1].D} {s[1].E} {s[1].F} {s[1].G}"];
    }
}
