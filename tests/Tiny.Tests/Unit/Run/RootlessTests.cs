using Tiny.Runtime;
using Tiny.Runtime.Plan;
using Tiny.Runtime.Spec;
using Tiny.Runtime.Users;

namespace Tiny.Tests.Unit.Run;

/// <summary>The rootless user namespace: the maps from /etc/subuid and /etc/subgid, and what it changes in the spec and plan.</summary>
public class RootlessTests
{
    static readonly string Directory = System.IO.Directory.CreateTempSubdirectory("tiny-rootless-unit-").FullName;

    [After(Class)]
    public static void RemoveDirectory() => System.IO.Directory.Delete(Directory, recursive: true);

    /// <summary>Settings over files of the test's own: passwd naming uid 1000 "alice", subuid and subgid as given, helpers present or not.</summary>
    static RootlessSettings Settings(string subuid, string subgid, bool helpers = true)
    {
        var dir = System.IO.Directory.CreateDirectory(Path.Combine(Directory, Guid.NewGuid().ToString("N"))).FullName;
        System.IO.Directory.CreateDirectory(Path.Combine(dir, "etc"));
        File.WriteAllText(Path.Combine(dir, "etc", "passwd"), "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n");
        File.WriteAllText(Path.Combine(dir, "subuid"), subuid);
        File.WriteAllText(Path.Combine(dir, "subgid"), subgid);
        if (helpers)
        {
            File.WriteAllText(Path.Combine(dir, "newuidmap"), "");
            File.WriteAllText(Path.Combine(dir, "newgidmap"), "");
        }
        return new RootlessSettings(Path.Combine(dir, "subuid"), Path.Combine(dir, "subgid"), Path.Combine(dir, "newuidmap"),
            Path.Combine(dir, "newgidmap"), dir);
    }

    [Test]
    public async Task The_callers_ids_are_0_and_its_own_subordinate_ranges_follow()
    {
        var maps = RootlessIds.MapsFor(1000, 1001, Settings("bob:100000:65536\nalice:165536:65536\n1000:300000:10\n", "alice:200000:1000\n"));
        await Assert.That(maps.UidMap).IsEquivalentTo([new IdMapping(0, 1000, 1), new IdMapping(1, 165536, 65536), new IdMapping(65537, 300000, 10)],
            CollectionOrdering.Matching);
        await Assert.That(maps.GidMap).IsEquivalentTo([new IdMapping(0, 1001, 1), new IdMapping(1, 200000, 1000)], CollectionOrdering.Matching);
        await Assert.That(RootlessIds.NeedsHelper(maps.UidMap, asRoot: false)).IsTrue();
        await Assert.That(RootlessIds.NeedsHelper(maps.UidMap, asRoot: true)).IsFalse();
    }

    [Test]
    [Arguments("bob:100000:65536\n", "alice:200000:1000\n", true)]
    [Arguments("alice:100000:65536\n", "", true)]
    [Arguments("alice:100000:65536\n", "alice:200000:1000\n", false)]
    public async Task Without_ranges_for_both_or_without_the_helpers_only_the_callers_own_ids_are_mapped(string subuid, string subgid, bool helpers)
    {
        var maps = RootlessIds.MapsFor(1000, 1001, Settings(subuid, subgid, helpers));
        await Assert.That(maps).IsEqualTo(new UserNamespace([new IdMapping(0, 1000, 1)], [new IdMapping(0, 1001, 1)]));
        await Assert.That(RootlessIds.NeedsHelper(maps.GidMap, asRoot: false)).IsFalse();
    }

    static readonly UserNamespace Single = new([new IdMapping(0, 1000, 1)], [new IdMapping(0, 1000, 1)]);
    static readonly UserNamespace WithRanges = new([new IdMapping(0, 1000, 1), new IdMapping(1, 100000, 65536)],
        [new IdMapping(0, 1000, 1), new IdMapping(1, 100000, 65536)]);

    static RunOptions Options(string? net = null) => new() { Command = ["/bin/true"], Rootfs = Path.GetTempPath(), Net = net };

    [Test]
    public async Task A_rootless_spec_runs_in_the_maps_on_the_rootfs_as_it_is_without_a_network()
    {
        var spec = Options().ToSpec(_ => null, asRoot: false, rootless: WithRanges);
        await Assert.That(spec.UserNamespace).IsEqualTo(WithRanges);
        await Assert.That(spec.IdMappedRootfs).IsFalse();
        await Assert.That(spec.Network).IsEqualTo(NetworkMode.None);
        await Assert.That(spec.SetgroupsDenied).IsFalse();
        await Assert.That(Options().ToSpec(_ => null, asRoot: false, rootless: Single).SetgroupsDenied).IsTrue();
        // As root (--rootless true) the parent may write any map, so setgroups stays allowed; the network is still none.
        var asRoot = Options().ToSpec(_ => null, asRoot: true, rootless: Single);
        await Assert.That(asRoot.SetgroupsDenied).IsFalse();
        await Assert.That(asRoot.Network).IsEqualTo(NetworkMode.None);
    }

    [Test]
    public async Task Rootless_refuses_a_bridge_and_user_namespace_options()
    {
        var bridge = Assert.Throws<ContainerError>(() => Options("bridge").ToSpec(_ => null, asRoot: false, rootless: Single));
        await Assert.That(bridge.Message).IsEqualTo("--net bridge needs root (rootless, the network is none)");
        var userns = Assert.Throws<ContainerError>(() => (Options() with { Userns = "auto" }).ToSpec(_ => null, asRoot: false, rootless: Single));
        await Assert.That(userns.Message).StartsWith("--userns, --uidmap and --gidmap need root");
        var user = Assert.Throws<ContainerError>(() => (Options() with { User = "5:5" }).ToSpec(_ => null, asRoot: false, rootless: Single));
        await Assert.That(user.Message).IsEqualTo("--user uid 5 is not mapped by the user namespace's uid map");
    }

    [Test]
    public async Task With_setgroups_denied_the_plan_never_calls_setgroups()
    {
        var channel = new ContainerPlan.Channel(SyncRead: 5, SyncWrite: 6, ErrorRead: 7, ErrorWrite: 8);
        var denied = Options().ToSpec(_ => null, asRoot: false, rootless: Single);
        await Assert.That(ContainerPlan.Build(denied, channel, null, 0, 40, []).Steps.OfType<SetGroups>()).IsEmpty();
        var allowed = Options().ToSpec(_ => null, asRoot: false, rootless: WithRanges);
        await Assert.That(ContainerPlan.Build(allowed, channel, null, 0, 40, []).Steps.OfType<SetGroups>().Count()).IsEqualTo(2);
        await Assert.That(ContainerPlan.Build(allowed, channel, null, 0, 40, []).Steps.OfType<MountReceivedTree>()).IsEmpty();
    }
}
