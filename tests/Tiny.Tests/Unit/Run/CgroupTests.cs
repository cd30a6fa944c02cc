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
        var v1 = new CgroupV1(fs, NullLogger.Instance, "/cg", "4:memory:/\n1:cpu:/\n8:pids:/\n5:devices:/\n", "c1", devices: true);
        v1.Create(limits);
        await Assert.That(fs.Operations.Where(o => o.StartsWith("write", StringComparison.Ordinal))).IsEquivalentTo(
            ["write /cg/devices/c1/devices.deny a", "write /cg/devices/c1/devices.allow c 1:3 rwm"], CollectionOrdering.Matching);
        await Assert.That(v1.ViewMounts(Mount.MS_RDONLY, "/sys/fs/cgroup").Select(m => (m.Destination, m.Source ?? ""))).IsEquivalentTo(
            [("/sys/fs/cgroup", "tmpfs"), ("/sys/fs/cgroup/memory", "/cg/memory/c1"), ("/sys/fs/cgroup/cpu", "/cg/cpu/c1"),
                ("/sys/fs/cgroup/pids", "/cg/pids/c1"), ("/sys/fs/cgroup/devices", "/cg/devices/c1")], CollectionOrdering.Matching);
    }
}
