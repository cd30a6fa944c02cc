using Microsoft.Extensions.Logging.Abstractions;
using Tiny.Interop;
using Tiny.Runtime;
using Tiny.Runtime.Cgroups;

namespace Tiny.Tests.Unit.Run;

/// <summary>The cgroup managers against a recording fake of cgroupfs.</summary>
public class CgroupTests
{
    const string HybridSelf = "9:name=systemd:/\n8:pids:/\n4:memory:/user/42\n2:cpuacct:/\n1:cpu:/\n0::/\n";

    [Test]
    public async Task V1_makes_one_directory_per_controller_under_the_callers_cgroup()
    {
        var fs = new FakeCgroupFs();
        var cgroup = new CgroupV1(fs, NullLogger.Instance, "/fake", HybridSelf, "tiny-c1");
        cgroup.Create(new ResourceLimits(MemoryBytes: 1 << 20, CpuQuotaMicros: 50_000, CpuWeight: 100, PidsMax: 7));
        await Assert.That(cgroup.MembershipFiles).IsEquivalentTo(
            ["/fake/memory/user/42/tiny-c1/tasks", "/fake/cpu/tiny-c1/tasks", "/fake/cpuacct/tiny-c1/tasks", "/fake/pids/tiny-c1/tasks"],
            CollectionOrdering.Matching);
        cgroup.Remove();
        await Assert.That(fs.Operations).IsEquivalentTo(
        [
            "mkdir /fake/memory/user/42/tiny-c1",
            "mkdir /fake/cpu/tiny-c1",
            "mkdir /fake/cpuacct/tiny-c1",
            "mkdir /fake/pids/tiny-c1",
            "write /fake/memory/user/42/tiny-c1/memory.limit_in_bytes 1048576",
            "write /fake/cpu/tiny-c1/cpu.cfs_period_us 100000",
            "write /fake/cpu/tiny-c1/cpu.cfs_quota_us 50000",
            "write /fake/cpu/tiny-c1/cpu.shares 2598",
            "write /fake/pids/tiny-c1/pids.max 7",
            "rmdir /fake/memory/user/42/tiny-c1",
            "rmdir /fake/cpu/tiny-c1",
            "rmdir /fake/cpuacct/tiny-c1",
            "rmdir /fake/pids/tiny-c1",
        ], CollectionOrdering.Matching);
    }

    [Test]
    public async Task V1_uses_the_cpu_directory_for_cpuacct_where_one_hierarchy_has_both()
    {
        var cgroup = new CgroupV1(new FakeCgroupFs(), NullLogger.Instance, "/fake", "4:memory:/\n2:cpu,cpuacct:/\n8:pids:/\n", "c1");
        await Assert.That(cgroup.Hierarchies.Select(h => h.Name)).IsEquivalentTo(["memory", "cpu", "pids"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task V2_enables_the_controllers_it_needs_in_the_parent_then_writes_the_limits()
    {
        var fs = new FakeCgroupFs();
        fs.Files["/fake/user.slice/cgroup.controllers"] = "cpuset cpu io memory pids\n";
        fs.Files["/fake/user.slice/cgroup.subtree_control"] = "cpu\n";
        var cgroup = new CgroupV2(fs, NullLogger.Instance, "/fake/user.slice", "tiny-c2");
        cgroup.Create(new ResourceLimits(MemoryBytes: 64 << 20, CpuQuotaMicros: 150_000, CpuWeight: 500, PidsMax: 10));
        await Assert.That(cgroup.MembershipFiles).IsEquivalentTo(["/fake/user.slice/tiny-c2/cgroup.procs"]);
        await Assert.That(fs.Operations).IsEquivalentTo(
        [
            "write /fake/user.slice/cgroup.subtree_control +memory +pids",
            "mkdir /fake/user.slice/tiny-c2",
            "write /fake/user.slice/tiny-c2/memory.max 67108864",
            "write /fake/user.slice/tiny-c2/cpu.max 150000 100000",
            "write /fake/user.slice/tiny-c2/cpu.weight 500",
            "write /fake/user.slice/tiny-c2/pids.max 10",
        ], CollectionOrdering.Matching);
    }

    [Test]
    public async Task V2_without_limits_touches_no_controller()
    {
        var fs = new FakeCgroupFs();
        new CgroupV2(fs, NullLogger.Instance, "/fake", "tiny-c3").Create(ResourceLimits.None);
        await Assert.That(fs.Operations).IsEquivalentTo(["mkdir /fake/tiny-c3"]);
    }

    [Test]
    public async Task V2_names_a_controller_the_parent_does_not_have()
    {
        var fs = new FakeCgroupFs();
        fs.Files["/fake/cgroup.controllers"] = "hugetlb\n";
        var error = Assert.Throws<ContainerError>(() => new CgroupV2(fs, NullLogger.Instance, "/fake", "tiny-c4").Create(new ResourceLimits(PidsMax: 5)));
        await Assert.That(error.Message).IsEqualTo("cgroup: controller pids is not available in /fake");
    }

    [Test]
    public async Task A_refused_write_names_the_file_value_and_errno()
    {
        var fs = new FakeCgroupFs();
        fs.Refusals["/fake/tiny-c5/memory.max"] = Errno.EBUSY;
        fs.Files["/fake/cgroup.controllers"] = "memory";
        fs.Files["/fake/cgroup.subtree_control"] = "memory";
        var error = Assert.Throws<ContainerError>(() => new CgroupV2(fs, NullLogger.Instance, "/fake", "tiny-c5").Create(new ResourceLimits(MemoryBytes: 4096)));
        await Assert.That(error.Message).IsEqualTo("cgroup: write 4096 to /fake/tiny-c5/memory.max: device or resource busy");
    }

    [Test]
    [Arguments(2, 1)]
    [Arguments(999, 39)]
    [Arguments(262144, 10000)]
    public async Task Cpu_shares_invert_runcs_shares_to_weight_mapping(long shares, int weight)
    {
        await Assert.That(ResourceLimits.SharesForWeight(weight)).IsEqualTo(shares);
        // runc: weight = 1 + ((shares - 2) * 9999) / 262142
        await Assert.That(1 + (ResourceLimits.SharesForWeight(weight) - 2) * 9999 / 262142).IsEqualTo(weight);
    }

    [Test]
    public async Task Exit_codes_follow_the_shell_convention()
    {
        await Assert.That(Process.ExitCodeOf(3 << 8)).IsEqualTo(3);
        await Assert.That(Process.ExitCodeOf(9)).IsEqualTo(137);
        await Assert.That(Process.ExitCodeOf(15 | 0x80)).IsEqualTo(143);
    }

    [Test]
    public async Task On_cgroup_v2_device_rules_are_refused_on_v1_they_are_written_in_order()
    {
        var limits = ResourceLimits.None with { DeviceRules = [new DeviceRule(false, 'a', null, null, "rwm"), new DeviceRule(true, 'c', 1, 3, "rwm")] };
        var v2 = new CgroupV2(new FakeCgroupFs(), NullLogger.Instance, "/cg", "c1");
        await Assert.That(Assert.Throws<ContainerError>(() => v2.Create(limits)).Message).Contains("BPF device program");

        var fs = new FakeCgroupFs();
        var v1 = new CgroupV1(fs, NullLogger.Instance, "/cg", "4:memory:/\n1:cpu:/\n8:pids:/\n5:devices:/\n", "c1", limits);
        v1.Create(limits);
        await Assert.That(fs.Operations.Where(o => o.StartsWith("write", StringComparison.Ordinal))).IsEquivalentTo(
            ["write /cg/devices/c1/devices.deny a", "write /cg/devices/c1/devices.allow c 1:3 rwm"], CollectionOrdering.Matching);
        await Assert.That(v1.ViewMounts(Mount.MS_RDONLY, "/sys/fs/cgroup").Select(m => (m.Destination, m.Source ?? ""))).IsEquivalentTo(
            [("/sys/fs/cgroup", "tmpfs"), ("/sys/fs/cgroup/memory", "/cg/memory/c1"), ("/sys/fs/cgroup/cpu", "/cg/cpu/c1"),
                ("/sys/fs/cgroup/pids", "/cg/pids/c1"), ("/sys/fs/cgroup/devices", "/cg/devices/c1")], CollectionOrdering.Matching);
    }
    static readonly BlockIoLimits Throttles = new(Weight: 500)
    {
        WeightDevices = [new DeviceWeight(8, 0, 200, null)],
        ReadBps = [new DeviceRate(254, 0, 1048576), new DeviceRate(8, 0, 0)],
        WriteIops = [new DeviceRate(254, 0, 100)],
    };

    static List<string> Writes(FakeCgroupFs fs) => [.. fs.Operations.Where(o => o.StartsWith("write", StringComparison.Ordinal))];

    [Test]
    public async Task V1_block_io_goes_to_a_blkio_directory_the_child_joins_with_the_weight_file_of_the_scheduler_in_use()
    {
        var fs = new FakeCgroupFs();
        fs.Files["/cg/blkio/c1/blkio.bfq.weight"] = "100\n";
        fs.Files["/cg/blkio/c1/blkio.bfq.weight_device"] = "";
        var cgroup = new CgroupV1(fs, NullLogger.Instance, "/cg", HybridSelf + "7:blkio:/\n", "c1", ResourceLimits.None with { BlockIo = Throttles });
        cgroup.Create(ResourceLimits.None with { BlockIo = Throttles });
        await Assert.That(cgroup.MembershipFiles).Contains("/cg/blkio/c1/tasks");
        await Assert.That(fs.Operations).Contains("mkdir /cg/blkio/c1");
        await Assert.That(Writes(fs)).IsEquivalentTo(
        [
            "write /cg/blkio/c1/blkio.bfq.weight 500",
            "write /cg/blkio/c1/blkio.bfq.weight_device 8:0 200",
            "write /cg/blkio/c1/blkio.throttle.read_bps_device 254:0 1048576",
            "write /cg/blkio/c1/blkio.throttle.read_bps_device 8:0 0",
            "write /cg/blkio/c1/blkio.throttle.write_iops_device 254:0 100",
        ], CollectionOrdering.Matching);
        cgroup.Remove();
        await Assert.That(fs.Operations[^1]).IsEqualTo("rmdir /cg/blkio/c1");
    }

    [Test]
    public async Task V1_weights_without_a_weight_file_name_the_field()
    {
        var limits = ResourceLimits.None with { BlockIo = new BlockIoLimits(Weight: 500) };
        var error = Assert.Throws<ContainerError>(() =>
            new CgroupV1(new FakeCgroupFs(), NullLogger.Instance, "/cg", "7:blkio:/\n4:memory:/\n1:cpu:/\n8:pids:/\n", "c1", limits).Create(limits));
        await Assert.That(error.Message).IsEqualTo(
            "linux.resources.blockIO.weight: neither blkio.bfq.weight nor blkio.weight exists in /cg/blkio/c1 (no block device uses the BFQ scheduler)");
        var leaf = ResourceLimits.None with { BlockIo = new BlockIoLimits(LeafWeight: 500) };
        error = Assert.Throws<ContainerError>(() =>
            new CgroupV1(new FakeCgroupFs(), NullLogger.Instance, "/cg", "7:blkio:/\n4:memory:/\n1:cpu:/\n8:pids:/\n", "c1", leaf).Create(leaf));
        await Assert.That(error.Message).StartsWith("linux.resources.blockIO.leafWeight: blkio.leaf_weight does not exist in /cg/blkio/c1");
    }

    static readonly ResourceLimits Hugepages = ResourceLimits.None with
    {
        HugepageLimits = [new HugepageLimit("2MB", 4194304), new HugepageLimit("1GB", 1073741824)],
    };

    [Test]
    public async Task V1_huge_page_limits_go_to_the_hugetlb_hierarchy_with_the_reservation_limits_while_the_kernel_has_them()
    {
        var fs = new FakeCgroupFs();
        fs.Refusals["/cg/hugetlb/c1/hugetlb.2MB.rsvd.limit_in_bytes"] = Errno.ENOENT;
        var cgroup = new CgroupV1(fs, NullLogger.Instance, "/cg", HybridSelf + "11:hugetlb:/\n", "c1", Hugepages, hybrid: true);
        cgroup.Create(Hugepages);
        await Assert.That(cgroup.Directories).IsEquivalentTo(["/cg/memory/user/42/c1", "/cg/cpu/c1", "/cg/cpuacct/c1", "/cg/pids/c1", "/cg/hugetlb/c1"], CollectionOrdering.Matching);
        await Assert.That(Writes(fs)).IsEquivalentTo(
        [
            "write /cg/hugetlb/c1/hugetlb.2MB.limit_in_bytes 4194304",
            "write /cg/hugetlb/c1/hugetlb.2MB.rsvd.limit_in_bytes 4194304",
            "write /cg/hugetlb/c1/hugetlb.1GB.limit_in_bytes 1073741824",
        ], CollectionOrdering.Matching);
    }

    [Test]
    public async Task On_a_hybrid_host_a_controller_bound_to_the_v2_tree_alone_gets_a_unified_directory_made_joined_and_removed()
    {
        var fs = new FakeCgroupFs();
        fs.Files["/cg/unified/cgroup.controllers"] = "hugetlb\n";
        fs.Files["/cg/unified/cgroup.subtree_control"] = "\n";
        var cgroup = new CgroupV1(fs, NullLogger.Instance, "/cg", HybridSelf, "c1", Hugepages, hybrid: true);
        cgroup.Create(Hugepages);
        await Assert.That(cgroup.Directories).IsEquivalentTo(
            ["/cg/memory/user/42/c1", "/cg/cpu/c1", "/cg/cpuacct/c1", "/cg/pids/c1", "/cg/unified/c1"], CollectionOrdering.Matching);
        await Assert.That(cgroup.MembershipFiles.Last()).IsEqualTo("/cg/unified/c1/cgroup.procs");
        await Assert.That(fs.Operations.Skip(4)).IsEquivalentTo(
        [
            "write /cg/unified/cgroup.subtree_control +hugetlb",
            "mkdir /cg/unified/c1",
            "write /cg/unified/c1/hugetlb.2MB.max 4194304",
            "write /cg/unified/c1/hugetlb.2MB.rsvd.max 4194304",
            "write /cg/unified/c1/hugetlb.1GB.max 1073741824",
            "write /cg/unified/c1/hugetlb.1GB.rsvd.max 1073741824",
        ], CollectionOrdering.Matching);
        await Assert.That(cgroup.ViewMounts(Mount.MS_RDONLY, "/sys/fs/cgroup").Select(m => (m.Destination, m.Source ?? ""))).Contains(("/sys/fs/cgroup/unified", "/cg/unified/c1"));

        // As a later command (update, delete) finds it from the recorded directories.
        var existing = new CgroupV1(fs, NullLogger.Instance, "/cg", cgroup.Directories);
        await Assert.That(existing.Directories).IsEquivalentTo(cgroup.Directories, CollectionOrdering.Matching);
        existing.Apply(ResourceLimits.None with { HugepageLimits = [new HugepageLimit("2MB", 2097152)] });
        await Assert.That(fs.Operations[^2]).IsEqualTo("write /cg/unified/c1/hugetlb.2MB.max 2097152");
        existing.Remove();
        await Assert.That(fs.Operations[^1]).IsEqualTo("rmdir /cg/unified/c1");

        // Without huge page limits nothing is made in the v2 tree.
        await Assert.That(new CgroupV1(fs, NullLogger.Instance, "/cg", HybridSelf, "c2", ResourceLimits.None, hybrid: true).Directories)
            .DoesNotContain("/cg/unified/c2");
    }

    [Test]
    public async Task V2_block_io_and_huge_pages_enable_their_controllers_map_the_weight_and_write_one_io_max_line_per_device()
    {
        var fs = new FakeCgroupFs();
        fs.Files["/cg/cgroup.controllers"] = "io hugetlb\n";
        fs.Files["/cg/cgroup.subtree_control"] = "\n";
        var limits = Hugepages with { BlockIo = Throttles };
        new CgroupV2(fs, NullLogger.Instance, "/cg", "c1").Create(limits);
        await Assert.That(fs.Operations).IsEquivalentTo(
        [
            "write /cg/cgroup.subtree_control +io +hugetlb",
            "mkdir /cg/c1",
            "write /cg/c1/io.weight 4950",
            "write /cg/c1/io.weight 8:0 1920",
            "write /cg/c1/io.max 254:0 rbps=1048576 wiops=100",
            "write /cg/c1/hugetlb.2MB.max 4194304",
            "write /cg/c1/hugetlb.2MB.rsvd.max 4194304",
            "write /cg/c1/hugetlb.1GB.max 1073741824",
            "write /cg/c1/hugetlb.1GB.rsvd.max 1073741824",
        ], CollectionOrdering.Matching);
    }

    [Test]
    public async Task V2_with_bfq_takes_the_weight_as_it_is_and_device_weights_when_it_has_per_device_lines()
    {
        var fs = new FakeCgroupFs();
        fs.Files["/cg/c1/io.bfq.weight"] = "default 100\n";
        new CgroupV2(fs, NullLogger.Instance, "/cg", "c1").Apply(ResourceLimits.None with { BlockIo = Throttles with { ReadBps = [], WriteIops = [] } });
        await Assert.That(fs.Operations).IsEquivalentTo(
            ["write /cg/c1/io.bfq.weight 500", "write /cg/c1/io.bfq.weight 8:0 200"], CollectionOrdering.Matching);
        var leaf = ResourceLimits.None with { BlockIo = new BlockIoLimits(LeafWeight: 300) };
        await Assert.That(Assert.Throws<ContainerError>(() => new CgroupV2(fs, NullLogger.Instance, "/cg", "c1").Apply(leaf)).Message)
            .IsEqualTo("linux.resources.blockIO.leafWeight: cgroup v2 has no leaf weights");
    }

    [Test]
    [Arguments(10, 1)]
    [Arguments(500, 4950)]
    [Arguments(1000, 10000)]
    public async Task Blkio_weights_map_to_io_weights_as_runc_maps_them(int weight, int ioWeight)
    {
        await Assert.That(BlockIoLimits.IoWeight(weight)).IsEqualTo(ioWeight);
    }
}
