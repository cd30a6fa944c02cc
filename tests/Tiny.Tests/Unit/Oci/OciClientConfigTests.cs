using System.Text.Json;
using System.Text.Json.Nodes;
using Tiny.Interop;
using Tiny.Runtime.Cgroups;
using Tiny.Runtime.Mounts;
using Tiny.Runtime.Oci;
using Tiny.Runtime.Plan;

namespace Tiny.Tests.Unit.Oci;

/// <summary>What podman and containerd put in config.json that tiny once refused: devices, device rules, terminal, and
/// the plan of `tiny exec`.</summary>
public class OciClientConfigTests
{
    static readonly string Bundle = Directory.CreateTempSubdirectory("tiny-oci-clients-").FullName;

    static OciClientConfigTests() => Directory.CreateDirectory(Path.Combine(Bundle, "rootfs"));

    [After(Class)]
    public static void RemoveBundle() => Directory.Delete(Bundle, recursive: true);

    static Runtime.Spec.RunSpec Convert(Action<JsonObject> edit)
    {
        var config = JsonNode.Parse(JsonSerializer.Serialize(OciSpec.DefaultConfig(cgroupNamespace: true), OciJsonContext.Default.OciConfig))!.AsObject();
        edit(config);
        return OciConversion.ToContainer(OciConfigReaderTests.Parse(config.ToJsonString()), Bundle, "c1", _ => false).Spec;
    }

    [Test]
    public async Task Linux_devices_become_device_nodes_made_in_the_containers_dev()
    {
        var spec = Convert(c => c["linux"]!["devices"] = JsonNode.Parse(
            """[{"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200, "fileMode": 432, "uid": 5, "gid": 6}, {"path": "/dev/null", "type": "c", "major": 1, "minor": 3}, {"path": "/dev/loop9", "type": "b", "major": 7, "minor": 9}]"""));
        await Assert.That(spec.Devices).IsEquivalentTo([
            new DeviceNode("/dev/net/tun", FileDescriptor.S_IFCHR | 432, 10, 200, 5, 6),
            new DeviceNode("/dev/null", FileDescriptor.S_IFCHR | 0x1b6, 1, 3, 0, 0),
            new DeviceNode("/dev/loop9", FileDescriptor.S_IFBLK | 0x1b6, 7, 9, 0, 0)], CollectionOrdering.Matching);

        var steps = RootfsSetup.Steps("/r", false, [], devices: spec.Devices).ToList();
        var nodes = steps.OfType<MakeDevice>().Select(d => d.Path).ToList();
        // The config's /dev/null replaces tiny's own; /dev/net is made first.
        await Assert.That(nodes.Count(p => p == "/r/dev/null")).IsEqualTo(1);
        var tun = new MakeDevice("/r/dev/net/tun", FileDescriptor.S_IFCHR | 432, 10, 200, 5, 6);
        await Assert.That(steps.IndexOf(tun)).IsGreaterThan(steps.IndexOf(new MakeDirectory("/r/dev/net", 0x1ed)));
        await Assert.That(steps.IndexOf(new MakeDirectory("/r/dev/net", 0x1ed))).IsGreaterThan(0);
    }

    [Test]
    public async Task Device_rules_keep_their_order_and_end_with_runcs_default_allow_list()
    {
        var spec = Convert(c => c["linux"]!["resources"] = JsonNode.Parse(
            """{"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 10, "minor": -1, "access": "rw"}]}"""));
        var rules = spec.Limits.DeviceRules!;
        await Assert.That(rules.Take(2).Select(r => (r.Allow, r.V1Line))).IsEquivalentTo([(false, "a"), (true, "c 10:* rw")], CollectionOrdering.Matching);
        await Assert.That(rules.Skip(2)).IsEquivalentTo(DeviceRule.RuncDefaults, CollectionOrdering.Matching);
        await Assert.That(Convert(_ => { }).Limits.DeviceRules).IsNull();
    }

    [Test]
    public async Task Exec_is_not_dumpable_joins_every_namespace_mount_last_then_forks_into_the_pid_namespace()
    {
        var spec = Convert(c => c["process"]!["terminal"] = true);
        var channel = new ContainerPlan.Channel(5, 6, 7, 8, TerminalSocket: 9);
        var plan = ContainerPlan.BuildExec(spec, channel, seccomp: null, signalMask: 0, lastCap: 40, initPid: 1234, pidPipe: 10, detached: true);
        var steps = plan.Steps.ToList();
        await Assert.That(plan.CloneFlags).IsEqualTo(0UL);
        await Assert.That(plan.Steps[0]).IsEqualTo(new SetDumpable(false));
        var joins = plan.Steps.OfType<JoinNamespace>().Select(j => j.Path).ToList();
        await Assert.That(joins.Order()).IsEquivalentTo(new[] { "cgroup", "ipc", "mnt", "net", "pid", "uts" }.Select(n => $"/proc/1234/ns/{n}"), CollectionOrdering.Matching);
        await Assert.That(joins[^1]).IsEqualTo("/proc/1234/ns/mnt");
        var fork = steps.IndexOf(new ForkIntoPidNamespace(10));
        await Assert.That(fork).IsGreaterThan(steps.IndexOf(new JoinNamespace("/proc/1234/ns/mnt", Namespace.CLONE_NEWNS)));
        await Assert.That(steps.IndexOf(new OpenTerminal(9, 0, 0))).IsGreaterThan(fork);
        await Assert.That(plan.Steps.OfType<MountStep>()).IsEmpty();
        // conmon and containerd's shim reap a detached process after tiny has gone.
        await Assert.That(plan.Steps.OfType<SetParentDeathSignal>()).IsEmpty();
        await Assert.That(plan.Steps[^1]).IsTypeOf<Exec>();
    }
}
