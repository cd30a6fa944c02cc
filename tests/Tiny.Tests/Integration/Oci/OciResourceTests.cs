using System.Text.Json.Nodes;

namespace Tiny.Tests.Integration.Oci;

/// <summary>linux.resources.blockIO, linux.resources.hugepageLimits and linux.personality on one bundle under tiny and runc
/// where runc can do it here; huge page limits on a hybrid host whose hugetlb controller is bound to the v2 tree alone,
/// which runc refuses, under tiny only.</summary>
public class OciResourceTests
{
    /// <summary>The first real block device's MAJ:MIN (vda on these machines).</summary>
    static (long Major, long Minor) BlockDevice()
    {
        var dev = Directory.GetDirectories("/sys/block").Select(Path.GetFileName)
            .OrderBy(name => name!.StartsWith("vd", StringComparison.Ordinal) || name.StartsWith("sd", StringComparison.Ordinal) ? 0 : 1)
            .Select(name => File.ReadAllText($"/sys/block/{name}/dev").Trim().Split(':')).First();
        return (long.Parse(dev[0]), long.Parse(dev[1]));
    }

    /// <summary>The BFQ scheduler registers the blkio weight files (blkio.bfq.weight) while it is available.</summary>
    static bool HasBfq() => Directory.GetDirectories("/sys/block")
        .Any(dir => File.Exists($"{dir}/queue/scheduler") && File.ReadAllText($"{dir}/queue/scheduler").Split(' ', '[', ']').Contains("bfq"));

    static string CgroupDirectory(int pid, string controller)
    {
        var line = File.ReadLines($"/proc/{pid}/cgroup").Single(l => controller.Length == 0 ? l.StartsWith("0::", StringComparison.Ordinal)
            : l.Split(':')[1].Split(',').Contains(controller));
        return $"/sys/fs/cgroup/{(controller.Length == 0 ? "unified" : controller)}{line.Split(':', 3)[2]}";
    }

    static void CgroupMount(JsonObject config) => config["mounts"]!.AsArray().Add(JsonNode.Parse(
        """{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}"""));

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task Block_io_throttles_and_weights_land_in_the_containers_blkio_cgroup(string name)
    {
        RuntimeUnderTest.Require(name);
        Skip.Unless(Directory.Exists("/sys/fs/cgroup/blkio"), "needs the cgroup v1 blkio hierarchy");
        using var runtime = RuntimeUnderTest.Of(name);
        var (major, minor) = BlockDevice();
        var bfq = HasBfq();
        using var bundle = await OciBundle.Create(["sleep", "100"], config =>
        {
            string Rate(long rate) => $"[{{\"major\": {major}, \"minor\": {minor}, \"rate\": {rate}}}]";
            config["linux"]!["resources"] = JsonNode.Parse(
                $"{{\"blockIO\": {{{(bfq ? "\"weight\": 500, " : "")}\"throttleReadBpsDevice\": {Rate(1048576)}, \"throttleWriteBpsDevice\": {Rate(2097152)}, "
                + $"\"throttleReadIOPSDevice\": {Rate(300)}, \"throttleWriteIOPSDevice\": {Rate(100)}}}}}");
            CgroupMount(config);
        });
        var id = runtime.NewId("blkio");
        await Assert.That((await runtime.Detached("run", "-d", "--bundle", bundle.Path, id)).ExitCode).IsEqualTo(0);
        var pid = (int)(await runtime.State(id))["pid"]!;
        var blkio = CgroupDirectory(pid, "blkio");
        await Assert.That(blkio).IsNotEqualTo("/sys/fs/cgroup/blkio/");
        var device = $"{major}:{minor}";
        foreach (var (file, rate) in new[] { ("read_bps", "1048576"), ("write_bps", "2097152"), ("read_iops", "300"), ("write_iops", "100") })
        {
            await Assert.That(File.ReadAllText($"{blkio}/blkio.throttle.{file}_device").Trim()).IsEqualTo($"{device} {rate}");
            var inside = await runtime.Run("exec", id, "cat", $"/sys/fs/cgroup/blkio/blkio.throttle.{file}_device");
            await Assert.That(inside.Stdout.Trim()).IsEqualTo($"{device} {rate}");
        }
        if (bfq)
        {
            await Assert.That(File.ReadAllText($"{blkio}/blkio.bfq.weight").Trim()).IsEqualTo("500");
            await Assert.That((await runtime.Run("update", "--blkio-weight", "300", id)).ExitCode).IsEqualTo(0);
            await Assert.That(File.ReadAllText($"{blkio}/blkio.bfq.weight").Trim()).IsEqualTo("300");
        }
        await Assert.That((await runtime.Run("delete", "--force", id)).ExitCode).IsEqualTo(0);
        await Assert.That(Directory.Exists(blkio)).IsFalse();
    }

    /// <summary>runc took linux.personality from 1.2 on; Debian 12's runc 1.1 leaves it out.</summary>
    static async Task<bool> RuncSetsPersonality()
    {
        var version = (await Tiny.Exec(RuntimeUnderTest.Runc, ["--version"])).Stdout.Split('\n')[0].Split(' ').Last().Split('.', '+', '~');
        return int.Parse(version[0]) > 1 || int.Parse(version[1]) >= 2;
    }

    [Test]
    [Arguments("tiny")]
    [Arguments("runc")]
    public async Task A_LINUX32_personality_makes_the_container_and_its_exec_processes_i686(string name)
    {
        RuntimeUnderTest.Require(name);
        using var runtime = RuntimeUnderTest.Of(name);
        var expected = name == "tiny" || await RuncSetsPersonality() ? "i686" : "x86_64";
        static void Linux32(System.Text.Json.Nodes.JsonObject config) => config["linux"]!["personality"] = JsonNode.Parse("""{"domain": "LINUX32"}""");
        using (var bundle = await OciBundle.Create(["uname", "-m"], Linux32))
        {
            var run = await runtime.Run("run", "--bundle", bundle.Path, runtime.NewId("persona"));
            await Assert.That(run.ExitCode).IsEqualTo(0);
            await Assert.That(run.Stdout.Trim()).IsEqualTo(expected);
        }
        using (var bundle = await OciBundle.Create(["sleep", "100"], Linux32))
        {
            var id = runtime.NewId("persona");
            await Assert.That((await runtime.Detached("run", "-d", "--bundle", bundle.Path, id)).ExitCode).IsEqualTo(0);
            await Assert.That((await runtime.Run("exec", id, "uname", "-m")).Stdout.Trim()).IsEqualTo(expected);
        }
    }

    [Test]
    public async Task An_unknown_personality_domain_is_refused_by_name()
    {
        RuntimeUnderTest.Require("tiny");
        using var runtime = RuntimeUnderTest.Of("tiny");
        using var bundle = await OciBundle.Create(["true"], config => config["linux"]!["personality"] = JsonNode.Parse("""{"domain": "LINUX64"}"""));
        var result = await runtime.Run("run", "--bundle", bundle.Path, runtime.NewId("persona"));
        await Assert.That(result.ExitCode).IsEqualTo(125);
        await Assert.That(result.Stderr.Trim()).IsEqualTo("tiny: config.json: linux.personality.domain \"LINUX64\" is not LINUX or LINUX32");
    }

    /// <summary>A hybrid host where hugetlb is no v1 hierarchy and the v2 tree at /sys/fs/cgroup/unified offers it.</summary>
    static void RequireHugetlbInTheUnifiedTreeOnly()
    {
        RuntimeUnderTest.Require("tiny");
        Skip.Unless(File.Exists("/sys/fs/cgroup/unified/cgroup.controllers")
            && File.ReadAllText("/sys/fs/cgroup/unified/cgroup.controllers").Split(' ', '\n').Contains("hugetlb")
            && !File.ReadLines("/proc/self/cgroup").Any(l => l.Split(':')[1].Split(',').Contains("hugetlb"))
            && Directory.Exists("/sys/kernel/mm/hugepages/hugepages-2048kB"),
            "needs a hybrid host with hugetlb bound to the unified tree alone and 2 MB huge pages");
    }

    static Task<OciBundle> HugepageBundle(string[] args) => OciBundle.Create(args, config =>
    {
        config["linux"]!["resources"] = JsonNode.Parse("""{"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}""");
        // Without a cgroup namespace the container's /proc/self/cgroup names its cgroups as the host does.
        config["linux"]!["namespaces"] = new JsonArray(config["linux"]!["namespaces"]!.AsArray()
            .Where(n => (string?)n!["type"] != "cgroup").Select(n => n!.DeepClone()).ToArray());
    });

    [Test]
    public async Task On_a_hybrid_host_a_huge_page_limit_goes_to_a_unified_directory_that_runc_cannot_make()
    {
        RequireHugetlbInTheUnifiedTreeOnly();
        using var bundle = await HugepageBundle(["sleep", "100"]);
        if (File.Exists(RuntimeUnderTest.Runc))
        {
            using var runc = RuntimeUnderTest.Of("runc");
            var refused = await runc.Run("run", "--bundle", bundle.Path, runc.NewId("hugetlb"));
            await Assert.That(refused.ExitCode).IsNotEqualTo(0);
            await Assert.That(refused.Stderr).Contains("cannot set hugetlb limit");
        }

        using var runtime = RuntimeUnderTest.Of("tiny");
        var id = runtime.NewId("hugetlb");
        await Assert.That((await runtime.Detached("run", "-d", "--bundle", bundle.Path, id)).ExitCode).IsEqualTo(0);
        var pid = (int)(await runtime.State(id))["pid"]!;
        var unified = CgroupDirectory(pid, "");
        await Assert.That(unified).IsEqualTo($"/sys/fs/cgroup/unified/tiny-{id}");
        await Assert.That(File.ReadAllText($"{unified}/hugetlb.2MB.max").Trim()).IsEqualTo("4194304");
        await Assert.That(File.ReadAllText($"{unified}/hugetlb.2MB.rsvd.max").Trim()).IsEqualTo("4194304");
        var inside = await runtime.Run("exec", id, "cat", "/proc/self/cgroup");
        await Assert.That(inside.Stdout.Split('\n')).Contains($"0::/tiny-{id}");
        await Assert.That((await runtime.Run("delete", "--force", id)).ExitCode).IsEqualTo(0);
        await Assert.That(Directory.Exists(unified)).IsFalse();
    }

    [Test]
    public async Task The_unified_directory_goes_after_a_foreground_run_a_failed_start_and_a_killed_init()
    {
        RequireHugetlbInTheUnifiedTreeOnly();
        using var runtime = RuntimeUnderTest.Of("tiny");

        using (var bundle = await HugepageBundle(["sh", "-c", "cat /proc/self/cgroup"]))
        {
            var id = runtime.NewId("hugetlb");
            var run = await runtime.Run("run", "--bundle", bundle.Path, id);
            await Assert.That(run.ExitCode).IsEqualTo(0);
            await Assert.That(run.Stdout.Split('\n')).Contains($"0::/tiny-{id}");
            await Assert.That(Directory.Exists($"/sys/fs/cgroup/unified/tiny-{id}")).IsFalse();
        }

        using (var bundle = await HugepageBundle(["/no/such/command"]))
        {
            var id = runtime.NewId("hugetlb");
            var failed = await runtime.Run("run", "--bundle", bundle.Path, id);
            await Assert.That(failed.ExitCode).IsEqualTo(127);
            await Assert.That(Directory.Exists($"/sys/fs/cgroup/unified/tiny-{id}")).IsFalse();
        }

        using (var bundle = await HugepageBundle(["sleep", "100"]))
        {
            var id = runtime.NewId("hugetlb");
            await Assert.That((await runtime.Detached("create", "--bundle", bundle.Path, id)).ExitCode).IsEqualTo(0);
            var state = JsonNode.Parse(File.ReadAllText(Path.Combine(runtime.Root, id, "state.json")))!;
            await Assert.That(state["cgroupDirectories"]!.AsArray().Select(d => (string?)d)).Contains($"/sys/fs/cgroup/unified/tiny-{id}");
            await Tiny.Exec("/bin/kill", ["-9", $"{(int)(await runtime.State(id))["pid"]!}"]);
            await Assert.That((await runtime.Run("delete", "--force", id)).ExitCode).IsEqualTo(0);
            await Assert.That(Directory.Exists($"/sys/fs/cgroup/unified/tiny-{id}")).IsFalse();
        }
    }
}
