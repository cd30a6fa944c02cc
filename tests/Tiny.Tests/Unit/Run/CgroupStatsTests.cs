using System.Text.Json;
using System.Text.Json.Nodes;
using Tiny.Runtime;
using Tiny.Runtime.Cgroups;
using Tiny.Runtime.Oci;

namespace Tiny.Tests.Unit.Run;

/// <summary>`events` statistics read from fake cgroup trees in the kernel's file formats, written as runc writes them.</summary>
public class CgroupStatsTests
{
    static FakeCgroupFs Tree(string dir, params (string File, string Text)[] files)
    {
        var fs = new FakeCgroupFs();
        foreach (var (file, text) in files) fs.Files[$"{dir}/{file}"] = text;
        return fs;
    }

    static JsonNode Json(ContainerStats stats) =>
        JsonNode.Parse(JsonSerializer.Serialize(new OciEvent { Type = "stats", Id = "c1", Data = stats }, EventsJsonContext.Default.OciEvent))!;

    static readonly (string, string)[] V2Files =
    [
        ("cpu.stat", "usage_usec 2500\nuser_usec 1500\nsystem_usec 1000\nnr_periods 10\nnr_throttled 2\nthrottled_usec 300\nnr_bursts 0\nburst_usec 0\n"),
        ("memory.stat", "anon 106496\nfile 8192\nkernel 270336\nsock 0\n"),
        ("memory.current", "524288\n"),
        ("memory.max", "67108864\n"),
        ("memory.swap.current", "4096\n"),
        ("memory.swap.max", "max\n"),
        ("memory.events", "low 0\nhigh 0\nmax 5\noom 2\noom_kill 2\noom_group_kill 0\n"),
        ("pids.current", "3\n"),
        ("pids.max", "max\n"),
        ("io.stat", "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"),
    ];

    [Test]
    public async Task V2_reads_cpu_stat_memory_pids_and_io()
    {
        var reader = new CgroupStatsReader(Tree("/cg/c1", V2Files));
        var json = Json(reader.Read([("", "/cg/c1")]));
        await Assert.That(json["type"]!.ToString()).IsEqualTo("stats");
        var data = json["data"]!;
        await Assert.That(data["cpu"]!.ToJsonString()).IsEqualTo(
            """{"usage":{"total":2500000,"kernel":1000000,"user":1500000},"throttling":{"periods":10,"throttledPeriods":2,"throttledTime":300000}}""");
        await Assert.That(data["memory"]!["cache"]!.GetValue<ulong>()).IsEqualTo(8192UL);
        await Assert.That(data["memory"]!["usage"]!.ToJsonString()).IsEqualTo("""{"limit":67108864,"usage":524288,"failcnt":0}""");
        // v1's memsw counts memory and swap together; runc adds v2's swap to memory to match.
        await Assert.That(data["memory"]!["swap"]!.ToJsonString()).IsEqualTo("""{"limit":18446744073709551615,"usage":528384,"failcnt":0}""");
        await Assert.That(data["memory"]!["raw"]!["anon"]!.GetValue<ulong>()).IsEqualTo(106496UL);
        await Assert.That(data["pids"]!.ToJsonString()).IsEqualTo("""{"current":3}""");
        await Assert.That(data["blkio"]!["ioServiceBytesRecursive"]!.ToJsonString()).IsEqualTo(
            """[{"major":8,"op":"Read","value":4096},{"major":8,"op":"Write","value":8192}]""");
        await Assert.That(data["blkio"]!["ioServicedRecursive"]!.AsArray().Count).IsEqualTo(2);
        await Assert.That(reader.OomKills([("", "/cg/c1")])).IsEqualTo(2UL);
        await Assert.That(data.AsObject().Select(p => p.Key)).IsEquivalentTo(
            ["cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt", "network_interfaces"], CollectionOrdering.Matching);
        await Assert.That(data["network_interfaces"]).IsNull();
    }

    [Test]
    public async Task V2_without_the_memory_and_pids_controllers_reports_zeros_left_out()
    {
        var reader = new CgroupStatsReader(Tree("/cg/c1", ("cpu.stat", "usage_usec 7\nuser_usec 7\nsystem_usec 0\n")));
        var data = Json(reader.Read([("", "/cg/c1")]))["data"]!;
        await Assert.That(data["cpu"]!["usage"]!.ToJsonString()).IsEqualTo("""{"total":7000,"kernel":0,"user":7000}""");
        await Assert.That(data["memory"]!.ToJsonString()).IsEqualTo(
            """{"usage":{"limit":0,"failcnt":0},"swap":{"limit":0,"failcnt":0},"kernel":{"limit":0,"failcnt":0},"kernelTCP":{"limit":0,"failcnt":0}}""");
        await Assert.That(data["pids"]!.ToJsonString()).IsEqualTo("{}");
        await Assert.That(reader.OomKills([("", "/cg/c1")])).IsNull();
    }

    static FakeCgroupFs V1Tree()
    {
        var fs = new FakeCgroupFs();
        void Add(string dir, params (string, string)[] files)
        {
            foreach (var (file, text) in files) fs.Files[$"{dir}/{file}"] = text;
        }
        Add("/cg/cpuacct/c1",
            ("cpuacct.usage", "3259944\n"),
            ("cpuacct.usage_percpu", "3000000 259944 \n"),
            ("cpuacct.usage_all", "cpu user system\n0 2000000 1000000\n1 259944 0\n"),
            ("cpuacct.stat", "user 3\nsystem 1\n"));
        Add("/cg/cpu/c1", ("cpu.stat", "nr_periods 4\nnr_throttled 1\nthrottled_time 5000\nnr_bursts 0\nburst_time 0\n"));
        Add("/cg/cpuset",
            ("cpuset.cpus", "0-2,5\n"), ("cpuset.mems", "0\n"), ("cpuset.cpu_exclusive", "1\n"), ("cpuset.mem_hardwall", "0\n"),
            ("cpuset.mem_exclusive", "1\n"), ("cpuset.memory_migrate", "0\n"), ("cpuset.memory_spread_page", "0\n"),
            ("cpuset.memory_spread_slab", "0\n"), ("cpuset.memory_pressure", "0\n"), ("cpuset.sched_load_balance", "1\n"),
            ("cpuset.sched_relax_domain_level", "-1\n"));
        Add("/cg/memory/user/c1",
            ("memory.stat", "cache 4096\nrss 155648\nhierarchical_memory_limit 67108864\n"),
            ("memory.usage_in_bytes", "659456\n"), ("memory.max_usage_in_bytes", "745472\n"),
            ("memory.failcnt", "0\n"), ("memory.limit_in_bytes", "67108864\n"),
            ("memory.kmem.usage_in_bytes", "262144\n"), ("memory.kmem.max_usage_in_bytes", "430080\n"),
            ("memory.kmem.failcnt", "0\n"), ("memory.kmem.limit_in_bytes", "9223372036854771712\n"),
            ("memory.kmem.tcp.usage_in_bytes", "0\n"), ("memory.kmem.tcp.max_usage_in_bytes", "0\n"),
            ("memory.kmem.tcp.failcnt", "0\n"), ("memory.kmem.tcp.limit_in_bytes", "9223372036854771712\n"),
            ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"));
        Add("/cg/pids/c1", ("pids.current", "3\n"), ("pids.max", "50\n"));
        return fs;
    }

    static readonly (string, string)[] V1Hierarchies =
    [
        ("memory", "/cg/memory/user/c1"), ("cpu", "/cg/cpu/c1"), ("cpuacct", "/cg/cpuacct/c1"), ("pids", "/cg/pids/c1"),
        ("cpuset", "/cg/cpuset"),
    ];

    [Test]
    public async Task V1_reads_cpuacct_cpu_cpuset_memory_and_pids()
    {
        var reader = new CgroupStatsReader(V1Tree());
        var data = Json(reader.Read(V1Hierarchies))["data"]!;
        await Assert.That(data["cpu"]!.ToJsonString()).IsEqualTo(
            """{"usage":{"total":3259944,"percpu":[3000000,259944],"percpu_kernel":[1000000,0],"percpu_user":[2000000,259944],"kernel":10000000,"user":30000000},"throttling":{"periods":4,"throttledPeriods":1,"throttledTime":5000}}""");
        await Assert.That(data["cpuset"]!.ToJsonString()).IsEqualTo(
            """{"cpus":[0,1,2,5],"cpu_exclusive":1,"mems":[0],"mem_hardwall":0,"mem_exclusive":1,"memory_migrate":0,"memory_spread_page":0,"memory_spread_slab":0,"memory_pressure":0,"sched_load_balance":1,"sched_relax_domain_level":-1}""");
        // No swap accounting (no memory.memsw.* files): runc reports an empty entry.
        await Assert.That(data["memory"]!.ToJsonString()).IsEqualTo(
            """{"cache":4096,"usage":{"limit":67108864,"usage":659456,"max":745472,"failcnt":0},"swap":{"limit":0,"failcnt":0},"kernel":{"limit":9223372036854771712,"usage":262144,"max":430080,"failcnt":0},"kernelTCP":{"limit":9223372036854771712,"failcnt":0},"raw":{"cache":4096,"hierarchical_memory_limit":67108864,"rss":155648}}""");
        await Assert.That(data["pids"]!.ToJsonString()).IsEqualTo("""{"current":3,"limit":50}""");
        await Assert.That(data["blkio"]!.ToJsonString()).IsEqualTo("{}");
        await Assert.That(data["hugetlb"]!.ToJsonString()).IsEqualTo("{}");
        await Assert.That(reader.OomKills(V1Hierarchies)).IsEqualTo(1UL);
    }

    [Test]
    public async Task V1_with_cpu_and_cpuacct_in_one_hierarchy_reads_cpuacct_from_the_cpu_directory()
    {
        var fs = new FakeCgroupFs();
        fs.Files["/cg/cpu/c1/cpuacct.usage"] = "42\n";
        fs.Files["/cg/cpu/c1/cpuacct.usage_percpu"] = "40 2\n";
        fs.Files["/cg/cpu/c1/cpuacct.stat"] = "user 0\nsystem 0\n";
        var data = Json(new CgroupStatsReader(fs).Read([("cpu", "/cg/cpu/c1")]))["data"]!;
        await Assert.That(data["cpu"]!["usage"]!.ToJsonString()).IsEqualTo("""{"total":42,"percpu":[40,2],"kernel":0,"user":0}""");
    }

    [Test]
    public async Task A_malformed_counter_is_an_error_naming_the_value()
    {
        var fs = V1Tree();
        fs.Files["/cg/pids/c1/pids.current"] = "three\n";
        var error = Assert.Throws<ContainerError>(() => new CgroupStatsReader(fs).Read(V1Hierarchies));
        await Assert.That(error.Message).IsEqualTo("cgroup: not a number: \"three\"");
    }

    [Test]
    [Arguments("5s", 5_000)]
    [Arguments("100ms", 100)]
    [Arguments("1m30s", 90_000)]
    [Arguments("1.5h", 5_400_000)]
    [Arguments("250000us", 250)]
    public async Task Intervals_are_go_durations(string text, long milliseconds) =>
        await Assert.That(OciEvents.ParseDuration(text, "--interval")).IsEqualTo(TimeSpan.FromMilliseconds(milliseconds));

    [Test]
    [Arguments("5", "invalid value \"5\" for --interval: expected a duration such as 5s, 100ms or 1m")]
    [Arguments("-1s", "invalid value \"-1s\" for --interval: expected a duration such as 5s, 100ms or 1m")]
    [Arguments("0s", "duration interval must be greater than 0")]
    public async Task Bad_intervals_are_refused(string text, string message) =>
        await Assert.That(Assert.Throws<ContainerError>(() => OciEvents.ParseDuration(text, "--interval")).Message).IsEqualTo(message);
}
