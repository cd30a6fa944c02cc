using Tiny.Runtime;
using Tiny.Runtime.Spec;

namespace Tiny.Tests.Unit.Run;

public class UserNamespaceOptionsTests
{
    /// <summary>Any existing directory serves: these options are only checked, never run.</summary>
    static readonly string Rootfs = Path.GetTempPath();

    static RunOptions Options(string? userns = null, string[]? uidMap = null, string[]? gidMap = null) => new()
    {
        Command = ["/bin/true"], Rootfs = Rootfs, Net = "none", User = "0:0", Userns = userns, UidMap = uidMap ?? [], GidMap = gidMap ?? [],
    };

    static RunSpec Spec(RunOptions options) => options.ToSpec(_ => null);

    [Test]
    public async Task Without_options_or_with_host_there_is_no_user_namespace()
    {
        await Assert.That(Spec(Options()).UserNamespace).IsNull();
        await Assert.That(Spec(Options("host")).UserNamespace).IsNull();
    }

    [Test]
    public async Task Auto_asks_for_a_lease_of_65536_ids()
    {
        var userns = Spec(Options("auto")).UserNamespace!;
        await Assert.That(userns.IsAuto).IsTrue();
        await Assert.That(UserNamespace.Leased(2147483648)).IsEqualTo(new UserNamespace(
            [new IdMapping(0, 2147483648, 65536)], [new IdMapping(0, 2147483648, 65536)]));
    }

    [Test]
    public async Task Explicit_maps_keep_their_lines_in_order()
    {
        var userns = Spec(Options(uidMap: ["0:200000:1000", "1000:1000:1"], gidMap: ["0:300000:65536"])).UserNamespace!;
        await Assert.That(userns.UidMap).IsEquivalentTo([new IdMapping(0, 200000, 1000), new IdMapping(1000, 1000, 1)], CollectionOrdering.Matching);
        await Assert.That(userns.GidMap).IsEquivalentTo([new IdMapping(0, 300000, 65536)], CollectionOrdering.Matching);
        await Assert.That(UserNamespace.Format(userns.UidMap)).IsEqualTo("0 200000 1000\n1000 1000 1\n");
    }

    [Test]
    public async Task A_map_given_for_one_kind_of_id_serves_for_both_as_in_podman()
    {
        var uidOnly = Spec(Options(uidMap: ["0:200000:65536"])).UserNamespace!;
        await Assert.That(uidOnly.GidMap).IsEquivalentTo([new IdMapping(0, 200000, 65536)], CollectionOrdering.Matching);
        var gidOnly = Spec(Options(gidMap: ["0:400000:10"])).UserNamespace!;
        await Assert.That(gidOnly.UidMap).IsEquivalentTo([new IdMapping(0, 400000, 10)], CollectionOrdering.Matching);
    }

    [Test]
    [Arguments("--uidmap", "0:100000", "invalid --uidmap \"0:100000\": expected CONTAINER_ID:HOST_ID:COUNT")]
    [Arguments("--uidmap", "0:-1:5", "invalid --uidmap \"0:-1:5\": expected CONTAINER_ID:HOST_ID:COUNT")]
    [Arguments("--gidmap", "0:x:5", "invalid --gidmap \"0:x:5\": expected CONTAINER_ID:HOST_ID:COUNT")]
    [Arguments("--uidmap", "0:100000:0", "invalid --uidmap \"0:100000:0\": the count must be at least 1")]
    [Arguments("--uidmap", "0:4294967290:6", "invalid --uidmap \"0:4294967290:6\": IDs go up to 4294967294")]
    [Arguments("--gidmap", "4294967295:0:1", "invalid --gidmap \"4294967295:0:1\": IDs go up to 4294967294")]
    [Arguments("--uidmap", "1:100000:10", "--uidmap must map container ID 0 (tiny sets the container up as its root)")]
    public async Task A_malformed_map_line_is_refused(string option, string line, string message)
    {
        var options = option == "--uidmap" ? Options(uidMap: [line]) : Options(gidMap: [line]);
        await Assert.That(() => Spec(options)).Throws<ContainerError>().WithMessage(message);
    }

    [Test]
    public async Task Overlapping_ranges_are_refused_on_either_side()
    {
        await Assert.That(() => Spec(Options(uidMap: ["0:100000:10", "9:200000:1"])))
            .Throws<ContainerError>().WithMessage("invalid --uidmap \"9:200000:1\": its container IDs overlap those of \"0:100000:10\"");
        await Assert.That(() => Spec(Options(gidMap: ["0:100000:10", "10:99995:6"])))
            .Throws<ContainerError>().WithMessage("invalid --gidmap \"10:99995:6\": its host IDs overlap those of \"0:100000:10\"");
        // Adjacent ranges touch without overlapping.
        await Assert.That(Spec(Options(uidMap: ["0:100000:10", "10:100010:10"])).UserNamespace!.UidMap.Count).IsEqualTo(2);
    }

    [Test]
    public async Task More_lines_than_the_kernel_takes_are_refused()
    {
        var lines = Enumerable.Range(0, 341).Select(i => $"{i}:{100000 + i}:1").ToArray();
        await Assert.That(() => Spec(Options(uidMap: lines)))
            .Throws<ContainerError>().WithMessage("too many --uidmap ranges: 341 (the kernel takes at most 340)");
    }

    [Test]
    [Arguments("bogus", "invalid --userns \"bogus\": expected auto or host")]
    [Arguments("auto", "--userns auto cannot be combined with --uidmap or --gidmap")]
    [Arguments("host", "--userns host cannot be combined with --uidmap or --gidmap")]
    public async Task Userns_takes_auto_or_host_and_neither_with_explicit_maps(string userns, string message) =>
        await Assert.That(() => Spec(Options(userns, uidMap: userns == "bogus" ? null : ["0:100000:10"])))
            .Throws<ContainerError>().WithMessage(message);

    [Test]
    public async Task The_user_must_be_mapped()
    {
        await Assert.That(() => Spec(Options("auto") with { User = "65536" }))
            .Throws<ContainerError>().WithMessage("--user 65536:0 is outside the IDs --userns auto maps (0-65535)");
        await Assert.That(() => Spec(Options(uidMap: ["0:100000:10"]) with { User = "5:10" }))
            .Throws<ContainerError>().WithMessage("--user gid 10 is not mapped by the user namespace's gid map");
        await Assert.That(() => Spec(Options(uidMap: ["0:100000:10"]) with { User = "10" }))
            .Throws<ContainerError>().WithMessage("--user uid 10 is not mapped by the user namespace's uid map");
        await Assert.That(Spec(Options(uidMap: ["0:100000:10"]) with { User = "9:9" }).Uid).IsEqualTo(9u);
    }

    [Test]
    public async Task A_user_namespace_needs_a_rootfs_and_its_own_network()
    {
        await Assert.That(() => Spec(Options("auto") with { Rootfs = null }))
            .Throws<ContainerError>().WithMessage("a user namespace needs --rootfs (the host's root cannot be the rootfs)");
        await Assert.That(() => Spec(Options("auto") with { Net = "host" }))
            .Throws<ContainerError>().WithMessage("a user namespace cannot share the host's network (--net host)");
    }
}
