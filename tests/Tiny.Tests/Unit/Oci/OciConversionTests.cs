using System.Text.Json;
using System.Text.Json.Nodes;
using Tiny.Interop;
using Tiny.Runtime;
using Tiny.Runtime.Oci;
using Tiny.Runtime.Plan;
using Tiny.Runtime.Security;
using Tiny.Runtime.Spec;

namespace Tiny.Tests.Unit.Oci;

public class OciConversionTests
{
    static readonly string Bundle = Directory.CreateTempSubdirectory("tiny-oci-unit-").FullName;

    static OciConversionTests() => Directory.CreateDirectory(Path.Combine(Bundle, "rootfs"));

    [After(Class)]
    public static void RemoveBundle() => Directory.Delete(Bundle, recursive: true);

    /// <summary>`tiny spec`'s config, terminal off, edited.</summary>
    static JsonObject Config(Action<JsonObject>? edit = null)
    {
        var config = JsonNode.Parse(JsonSerializer.Serialize(OciSpec.DefaultConfig(cgroupNamespace: true), OciJsonContext.Default.OciConfig))!.AsObject();
        config["process"]!["terminal"] = false;
        edit?.Invoke(config);
        return config;
    }

    static OciContainer Convert(JsonObject config, bool lsm = false) =>
        OciConversion.ToContainer(OciConfigReaderTests.Parse(config.ToJsonString()), Bundle, "c1", _ => lsm);

    static async Task<string> Refusal(Action<JsonObject> edit)
    {
        var error = Assert.Throws<ContainerError>(() => Convert(Config(edit)));
        await Assert.That(error.ExitCode).IsEqualTo(125);
        await Assert.That(error.Message).DoesNotContain("\n");
        return error.Message;
    }

    [Test]
    public async Task The_default_spec_converts_to_runcs_starter_container()
    {
        var spec = Convert(Config()).Spec;
        await Assert.That(spec.Rootfs).IsEqualTo(Path.Combine(Bundle, "rootfs"));
        await Assert.That(spec.ReadonlyRootfs).IsTrue();
        await Assert.That(spec.Command).IsEquivalentTo(["sh"], CollectionOrdering.Matching);
        await Assert.That(spec.Hostname).IsEqualTo("tiny");
        await Assert.That(spec.Workdir).IsEqualTo("/");
        await Assert.That(spec.Umask).IsEqualTo(0x12u);
        await Assert.That(spec.NoNewPrivileges).IsTrue();
        var three = CapabilitySet.Of(Capability.AuditWrite, Capability.Kill, Capability.NetBindService);
        await Assert.That(spec.CapabilitySets).IsEqualTo(new ProcessCapabilities(three, three, three, new CapabilitySet(0), new CapabilitySet(0)));
        await Assert.That(spec.Rlimits).IsEquivalentTo([new Rlimit(7, 1024, 1024)], CollectionOrdering.Matching);
        await Assert.That(spec.Namespaces!.Select(n => n.Type).Aggregate((a, b) => a | b)).IsEqualTo(Namespace.CLONE_NEWPID | Namespace.CLONE_NEWNET
            | Namespace.CLONE_NEWIPC | Namespace.CLONE_NEWUTS | Namespace.CLONE_NEWNS | Namespace.CLONE_NEWCGROUP);
        await Assert.That(spec.RootPropagation).IsEqualTo(Mount.MS_REC | Mount.MS_SLAVE);
        await Assert.That(spec.MaskedPaths!).Contains("/proc/kcore");
        await Assert.That(spec.ReadonlyPaths!).Contains("/proc/sys");
        await Assert.That(spec.Limits).IsEqualTo(Runtime.Cgroups.ResourceLimits.None);
    }

    [Test]
    public async Task Process_user_resources_and_namespaces_are_carried_over()
    {
        var nsPath = "/proc/self/ns/net";
        var container = Convert(Config(c =>
        {
            c["process"]!["user"] = JsonNode.Parse("""{"uid": 1000, "gid": 100, "additionalGids": [5, 6], "umask": 63}""");
            c["process"]!["cwd"] = "/work";
            c["process"]!["oomScoreAdj"] = 200;
            c["process"]!["noNewPrivileges"] = false;
            c["domainname"] = "example.org";
            c["annotations"] = JsonNode.Parse("""{"a": "b"}""");
            c["linux"]!["namespaces"] = JsonNode.Parse($$"""[{"type": "mount"}, {"type": "uts"}, {"type": "network", "path": "{{nsPath}}"}]""");
            c["hostname"] = null;
            c["linux"]!["cgroupsPath"] = "/tiny-test/c1";
            c["linux"]!["resources"] = JsonNode.Parse("""{"memory": {"limit": 67108864}, "cpu": {"shares": 512, "quota": 50000, "period": 200000}, "pids": {"limit": 20}}""");
        }));
        var spec = container.Spec;
        await Assert.That(spec.Uid).IsEqualTo(1000u);
        await Assert.That(spec.Gid).IsEqualTo(100u);
        await Assert.That(spec.AdditionalGids).IsEquivalentTo([5u, 6u], CollectionOrdering.Matching);
        await Assert.That(spec.Umask).IsEqualTo(63u);
        await Assert.That(spec.Workdir).IsEqualTo("/work");
        await Assert.That(spec.OomScoreAdj).IsEqualTo(200);
        await Assert.That(spec.NoNewPrivileges).IsFalse();
        await Assert.That(spec.Domainname).IsEqualTo("example.org");
        await Assert.That(spec.Hostname).IsEqualTo("");
        await Assert.That(container.Annotations["a"]).IsEqualTo("b");
        await Assert.That(spec.Namespaces).IsEquivalentTo(
            [new NamespaceRequest(Namespace.CLONE_NEWNS), new NamespaceRequest(Namespace.CLONE_NEWUTS),
                new NamespaceRequest(Namespace.CLONE_NEWNET, nsPath)], CollectionOrdering.Matching);
        await Assert.That(spec.Network).IsEqualTo(NetworkMode.Host);
        await Assert.That(spec.CgroupsPath).IsEqualTo("/tiny-test/c1");
        await Assert.That(spec.Limits).IsEqualTo(new Runtime.Cgroups.ResourceLimits(MemoryBytes: 64 << 20, CpuQuotaMicros: 50000,
            PidsMax: 20, CpuPeriod: 200000, CpuShares: 512));
    }

    [Test]
    public async Task Ambient_capabilities_are_those_both_permitted_and_inheritable_as_runc_raises_them()
    {
        var container = Convert(Config(c => c["process"]!["capabilities"] = JsonNode.Parse(
            """{"bounding": ["CAP_KILL", "CAP_CHOWN"], "permitted": ["CAP_KILL", "CAP_CHOWN"], "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL", "CAP_CHOWN"]}""")));
        await Assert.That(container.Spec.CapabilitySets!.Ambient).IsEqualTo(CapabilitySet.Of(Capability.Kill));
        await Assert.That(container.Skipped.Single()).Contains("CAP_CHOWN");
    }

    [Test]
    public async Task Sysctls_in_the_containers_own_namespaces_are_written_others_are_refused()
    {
        var spec = Convert(Config(c => c["linux"]!["sysctl"] = JsonNode.Parse("""{"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000"}"""))).Spec;
        await Assert.That(spec.Sysctl.Select(kv => kv.Key)).IsEquivalentTo(["net.ipv4.ip_forward", "kernel.shmmax"], CollectionOrdering.Matching);
        await Assert.That(await Refusal(c => c["linux"]!["sysctl"] = JsonNode.Parse("""{"vm.swappiness": "1"}""")))
            .IsEqualTo("config.json: linux.sysctl \"vm.swappiness\" is not in a namespace of the container's own: it would change the host");
        await Assert.That(await Refusal(c =>
        {
            c["linux"]!["sysctl"] = JsonNode.Parse("""{"net.ipv4.ip_forward": "1"}""");
            c["linux"]!["namespaces"] = JsonNode.Parse("""[{"type": "mount"}]""");
            c["hostname"] = null;
        })).Contains("needs a network namespace of the container's own");
        await Assert.That(await Refusal(c => c["linux"]!["sysctl"] = JsonNode.Parse("""{"net/../../x": "1"}"""))).Contains("is not a sysctl name");
    }

    [Test]
    [Arguments("linux.uidMappings", """[{"containerID": 0, "hostID": 1000, "size": 1}]""", "config.json: linux.uidMappings needs a new user namespace in linux.namespaces")]
    [Arguments("linux.devices", """[{"path": "/etc/fuse", "type": "c", "major": 10, "minor": 229}]""", "config.json: linux.devices[0].path \"/etc/fuse\" must be a path under /dev in tiny")]
    [Arguments("linux.devices", """[{"path": "/dev/pts/9", "type": "c", "major": 136, "minor": 9}]""", "config.json: linux.devices[0].path \"/dev/pts/9\" is one of the mounts or links tiny makes in /dev")]
    [Arguments("linux.devices", """[{"path": "/dev/x", "type": "s", "major": 1, "minor": 1}]""", "config.json: linux.devices[0].type \"s\" is not c, u, b or p")]
    [Arguments("linux.resources.devices", """[{"allow": false, "access": "rwx"}]""", "config.json: linux.resources.devices[0].access \"rwx\" is not made of r, w and m")]
    [Arguments("linux.resources.devices", """[{"allow": false, "access": "r"}]""", "config.json: linux.resources.devices[0] a rule for all device types must cover every device and rwm access in tiny")]
    [Arguments("linux.resources.memory", """{"limit": 2000, "swap": 1000}""", "config.json: linux.resources.memory.swap 1000 must be -1 or at least the memory limit (it counts memory plus swap)")]
    [Arguments("mounts", """[{"destination": "/q", "type": "mqueue", "source": "mqueue", "options": ["tmpcopyup"]}]""", "config.json: mounts[0] (/q) option \"tmpcopyup\" is for tmpfs mounts")]
    [Arguments("mounts", """[{"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["tmpcopyup"]}]""", "config.json: mounts[0] (/dev/shm) propagation, bind and tmpcopyup options are not supported by tiny on its own /proc, /sys and /dev")]
    [Arguments("mounts", """[{"destination": "/dev/x", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}]""", "config.json: mounts[0] (/dev/x) option \"tmpcopyup\" is not supported by tiny at or below another mount (/dev)")]
    [Arguments("mounts", """[{"destination": "/data", "type": "tmpfs", "source": "tmpfs"}, {"destination": "/data/c/", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}]""", "config.json: mounts[1] (/data/c/) option \"tmpcopyup\" is not supported by tiny at or below another mount (/data)")]
    [Arguments("mounts", """[{"destination": "/cg", "type": "cgroup", "source": "cgroup"}]""", "config.json: mounts[0] (/cg) a cgroup mount is supported at /sys/fs/cgroup only")]
    [Arguments("linux.resources.cpu", """{"cpus": "0-1"}""", "config.json: linux.resources.cpu.cpus is not supported by tiny")]
    [Arguments("linux.personality", """{"domain": "LINUX64"}""", "config.json: linux.personality.domain \"LINUX64\" is not LINUX or LINUX32")]
    [Arguments("linux.resources.blockIO", """{"weight": 5}""", "config.json: linux.resources.blockIO.weight 5 is outside 10 to 1000")]
    [Arguments("linux.resources.blockIO", """{"weightDevice": [{"major": 8, "minor": 0, "leafWeight": 1001}]}""", "config.json: linux.resources.blockIO.weightDevice[0].leafWeight 1001 is outside 10 to 1000")]
    [Arguments("linux.resources.blockIO", """{"throttleWriteIOPSDevice": [{"major": -1, "minor": 0, "rate": 5}]}""", "config.json: linux.resources.blockIO.throttleWriteIOPSDevice[0] -1:0 is not a device number")]
    [Arguments("process.scheduler", """{"policy": "SCHED_FIFO"}""", "config.json: process.scheduler is not supported by tiny")]
    [Arguments("linux.rootfsPropagation", "\"shared\"", "config.json: linux.rootfsPropagation \"shared\" is not supported by tiny")]
    [Arguments("linux.cgroupsPath", "\"system.slice:tiny:c1\"", "config.json: linux.cgroupsPath \"system.slice:tiny:c1\" is a systemd slice:prefix:name path; tiny has no systemd cgroup driver")]
    [Arguments("mounts", """[{"destination": "/data", "type": "nfs", "source": "server:/x"}]""", "config.json: mounts[0] (/data) type \"nfs\" is not supported by tiny")]
    public async Task An_unsupported_field_is_refused_by_name(string field, string json, string message)
    {
        await Assert.That(await Refusal(c =>
        {
            var parts = field.Split('.');
            var parent = parts[..^1].Aggregate((JsonNode)c, (node, part) => node[part] ??= new JsonObject());
            parent[parts[^1]] = JsonNode.Parse(json);
        })).IsEqualTo(message);
    }

    [Test]
    public async Task Block_io_huge_page_limits_and_personality_convert_as_runc_reads_them()
    {
        var container = Convert(Config(c =>
        {
            c["linux"]!["resources"] = JsonNode.Parse("""
                {"blockIO": {"weight": 0, "leafWeight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 200}],
                  "throttleReadBpsDevice": [{"major": 254, "minor": 0, "rate": 1048576}],
                  "throttleWriteIOPSDevice": [{"major": 254, "minor": 0, "rate": 100}]}}
                """);
            c["linux"]!["personality"] = JsonNode.Parse("""{"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]}""");
        }));
        var io = container.Spec.Limits.BlockIo!;
        await Assert.That(io.Weight).IsNull();
        await Assert.That(io.LeafWeight).IsEqualTo(300);
        await Assert.That(io.WeightDevices).IsEquivalentTo([new Runtime.Cgroups.DeviceWeight(8, 0, 200, null)]);
        await Assert.That(io.ReadBps).IsEquivalentTo([new Runtime.Cgroups.DeviceRate(254, 0, 1048576)]);
        await Assert.That(io.WriteIops).IsEquivalentTo([new Runtime.Cgroups.DeviceRate(254, 0, 100)]);
        await Assert.That(io.WriteBps).IsEmpty();
        await Assert.That(container.Spec.Personality).IsEqualTo(8UL);
        await Assert.That(container.Skipped).Contains("linux.personality.flags ADDR_NO_RANDOMIZE ignored, as runc ignores them");
        // An empty blockIO asks for nothing: no blkio cgroup.
        await Assert.That(Convert(Config(c => c["linux"]!["resources"] = JsonNode.Parse("""{"blockIO": {"weight": 0}}"""))).Spec.Limits.BlockIo).IsNull();

        var steps = ContainerPlan.Build(container.Spec, new ContainerPlan.Channel(3, 4, 5, 6), null, 0, 40, []).Steps;
        await Assert.That(steps[^2]).IsEqualTo(new SetPersonality(8));
        await Assert.That(steps[^1]).IsTypeOf<Exec>();
    }

    [Test]
    public async Task A_huge_page_limit_names_a_page_size_of_the_host()
    {
        static Runtime.Cgroups.ResourceLimits Limits(string json) =>
            OciConversion.Limits(JsonSerializer.Deserialize("""{"hugepageLimits": """ + json + "}", OciJsonContext.Default.OciResources), ["2MB", "1GB"]);
        await Assert.That(Limits("""[{"pageSize": "1GB", "limit": 2147483648}, {"pageSize": "2MB", "limit": 4194304}]""").HugepageLimits)
            .IsEquivalentTo([new Runtime.Cgroups.HugepageLimit("1GB", 2147483648), new Runtime.Cgroups.HugepageLimit("2MB", 4194304)], CollectionOrdering.Matching);
        await Assert.That(Limits("[]").HugepageLimits).IsNull();
        await Assert.That(Assert.Throws<ContainerError>(() => Limits("""[{"pageSize": "2MB", "limit": 1}, {"pageSize": "3MB", "limit": 1}]""")).Message)
            .IsEqualTo("config.json: linux.resources.hugepageLimits[1].pageSize \"3MB\" is not a huge page size of this host (2MB, 1GB, from /sys/kernel/mm/hugepages)");
        await Assert.That(Assert.Throws<ContainerError>(() => Limits("""[{"limit": 1}]""")).Message)
            .IsEqualTo("config.json: linux.resources.hugepageLimits[0].pageSize is required");
    }

    [Test]
    [Arguments("hugepages-2048kB", "2MB")]
    [Arguments("hugepages-1048576kB", "1GB")]
    [Arguments("hugepages-64kB", "64KB")]
    [Arguments("hugepages-32768kB", "32MB")]
    [Arguments("hugepages-16777216kB", "16GB")]
    [Arguments("nr_hugepages", null)]
    public async Task Huge_page_sizes_are_named_as_runc_names_them(string directory, string? name)
    {
        await Assert.That(Runtime.Cgroups.HugepageLimit.SizeName(directory)).IsEqualTo(name);
    }

    [Test]
    public async Task Mounts_become_mount_requests_in_order_and_the_standard_ones_are_left_to_the_rootfs_set_up()
    {
        var source = Path.Combine(Bundle, "data");
        Directory.CreateDirectory(source);
        var spec = Convert(Config(c => c["mounts"]!.AsArray().Add(JsonNode.Parse(
            """{"destination": "/data", "type": "bind", "source": "data", "options": ["rbind", "ro", "nosuid", "rprivate"]}""")))).Spec;
        await Assert.That(spec.Mounts).IsEquivalentTo(
            [new Runtime.Mounts.MountRequest("/data", source, "bind", Mount.MS_BIND | Mount.MS_REC | Mount.MS_RDONLY | Mount.MS_NOSUID,
                Mount.MS_REC | Mount.MS_PRIVATE, null)], CollectionOrdering.Matching);
        var tmpfs = Convert(Config(c => c["mounts"] = JsonNode.Parse(
            """[{"destination": "/run//x/", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=700", "size=1m", "noexec"]}]"""))).Spec;
        await Assert.That(tmpfs.Mounts).IsEquivalentTo(
            [new Runtime.Mounts.MountRequest("/run/x", "tmpfs", "tmpfs", Mount.MS_NOSUID | Mount.MS_NODEV | Mount.MS_NOEXEC, 0, "mode=700,size=1m")],
            CollectionOrdering.Matching);
        var dev = Convert(Config(c => c["mounts"]![1]!["options"] = JsonNode.Parse("""["nosuid", "noexec", "mode=755"]"""))).Spec;
        await Assert.That(dev.StandardMounts.Where(m => m.Destination == "/dev")).IsEquivalentTo(
            [new Runtime.Mounts.StandardMount("/dev", Mount.MS_NOSUID | Mount.MS_NOEXEC, "mode=755")], CollectionOrdering.Matching);
        await Assert.That(await Refusal(c => c["mounts"]!.AsArray().Add(JsonNode.Parse(
            """{"destination": "/data", "type": "bind", "source": "missing", "options": ["bind"]}"""))))
            .Contains("mounts[6] (/data) source");
        var cgroup = Convert(Config(c => c["mounts"]!.AsArray().Add(JsonNode.Parse(
            """{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}""")))).Spec;
        await Assert.That(cgroup.CgroupMountFlags).IsEqualTo(Mount.MS_NOSUID | Mount.MS_NOEXEC | Mount.MS_NODEV | Mount.MS_RELATIME | Mount.MS_RDONLY);
    }

    [Test]
    public async Task The_console_size_is_the_terminals_first_size_and_ignored_without_a_terminal()
    {
        var size = JsonNode.Parse("""{"height": 30, "width": 100}""");
        var spec = Convert(Config(c => { c["process"]!["terminal"] = true; c["process"]!["consoleSize"] = size!.DeepClone(); })).Spec;
        await Assert.That(spec.ConsoleSize).IsEqualTo(new Terminal.WindowSize { Rows = 30, Columns = 100 });
        await Assert.That(Convert(Config(c => c["process"]!["consoleSize"] = size!.DeepClone())).Spec.ConsoleSize).IsNull();
        await Assert.That(Convert(Config(c => { c["process"]!["terminal"] = true; c["process"]!["consoleSize"] = JsonNode.Parse("""{"height": 30}"""); }))
            .Spec.ConsoleSize).IsNull();
        await Assert.That(await Refusal(c => { c["process"]!["terminal"] = true; c["process"]!["consoleSize"] = JsonNode.Parse("""{"height": 70000, "width": 1}"""); }))
            .IsEqualTo("config.json: process.consoleSize 70000x1 is larger than a terminal's 65535x65535");
    }

    [Test]
    public async Task A_tmpcopyup_tmpfs_asks_for_a_copy_and_passes_its_other_options_on()
    {
        var spec = Convert(Config(c => c["mounts"] = JsonNode.Parse(
            """[{"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup", "size=1m"]}, {"destination": "/datax", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}]"""))).Spec;
        await Assert.That(spec.Mounts).IsEquivalentTo(
            [new Runtime.Mounts.MountRequest("/run", "tmpfs", "tmpfs", Mount.MS_NOSUID | Mount.MS_NODEV, Mount.MS_REC | Mount.MS_PRIVATE, "size=1m") { CopyUp = true },
                new Runtime.Mounts.MountRequest("/datax", "tmpfs", "tmpfs", 0, 0, null) { CopyUp = true }], CollectionOrdering.Matching);
        await Assert.That(Runtime.Oci.OciMounts.OptionNames).Contains("tmpcopyup");
    }

    [Test]
    public async Task Bad_values_name_the_field()
    {
        await Assert.That(await Refusal(c => c["ociVersion"] = "2.0.0")).Contains("ociVersion");
        await Assert.That(await Refusal(c => c["process"]!["cwd"] = "relative")).IsEqualTo("config.json: process.cwd \"relative\" must be an absolute path");
        await Assert.That(await Refusal(c => c["process"]!["args"] = new JsonArray())).IsEqualTo("config.json: process.args must name a command");
        await Assert.That(await Refusal(c => c["process"]!["env"] = JsonNode.Parse("""["NOEQUALS"]""")))
            .IsEqualTo("config.json: process.env \"NOEQUALS\" is not KEY=VALUE");
        await Assert.That(await Refusal(c => c["process"]!["capabilities"]!["bounding"] = JsonNode.Parse("""["CAP_NOPE"]""")))
            .IsEqualTo("config.json: process.capabilities.bounding \"CAP_NOPE\" is not a capability tiny knows");
        await Assert.That(await Refusal(c => c["process"]!["rlimits"] = JsonNode.Parse("""[{"type": "RLIMIT_NOFILE", "hard": 1, "soft": 2}]""")))
            .Contains("soft limit 2 is above the hard limit 1");
        await Assert.That(await Refusal(c => c["process"]!["rlimits"] = JsonNode.Parse("""[{"type": "RLIMIT_NOPE", "hard": 1, "soft": 1}]""")))
            .IsEqualTo("config.json: process.rlimits \"RLIMIT_NOPE\" is not an rlimit type");
        await Assert.That(await Refusal(c => c["linux"]!["namespaces"] = JsonNode.Parse("""[{"type": "pid"}]""")))
            .Contains("must include a mount namespace");
        await Assert.That(await Refusal(c => c["linux"]!["namespaces"] = JsonNode.Parse("""[{"type": "mount"}, {"type": "time"}]""")))
            .IsEqualTo("config.json: linux.namespaces \"time\" is not supported by tiny");
        await Assert.That(await Refusal(c => c["linux"]!["namespaces"] = JsonNode.Parse("""[{"type": "mount"}, {"type": "mount"}]""")))
            .Contains("is listed twice");
        await Assert.That(await Refusal(c => c["root"]!["path"] = "missing")).Contains("root.path");
        await Assert.That(await Refusal(c => c["linux"]!["namespaces"] = JsonNode.Parse("""[{"type": "mount"}]""")))
            .IsEqualTo("config.json: hostname needs a uts namespace of the container's own");
    }

    static void WithUserNamespace(JsonObject config, string uidMappings, string gidMappings)
    {
        config["linux"]!["namespaces"]!.AsArray().Add(JsonNode.Parse("""{"type": "user"}"""));
        config["linux"]!["uidMappings"] = JsonNode.Parse(uidMappings);
        config["linux"]!["gidMappings"] = JsonNode.Parse(gidMappings);
    }

    [Test]
    public async Task A_user_namespace_with_its_mappings_runs_in_them_on_the_rootfs_as_it_is()
    {
        var spec = Convert(Config(c => WithUserNamespace(c, """[{"containerID": 0, "hostID": 3000000000, "size": 65536}]""",
            """[{"containerID": 0, "hostID": 3000000000, "size": 1000}, {"containerID": 1000, "hostID": 100, "size": 1}]"""))).Spec;
        await Assert.That(spec.UserNamespace).IsEqualTo(new UserNamespace([new(0, 3000000000, 65536)], [new(0, 3000000000, 1000), new(1000, 100, 1)]));
        await Assert.That(spec.IdMappedRootfs).IsFalse();
        await Assert.That(spec.Namespaces!.Any(n => n.Type == Namespace.CLONE_NEWUSER && n.Path is null)).IsTrue();
        await Assert.That(Convert(Config()).Spec.UserNamespace).IsNull();
    }

    [Test]
    [Arguments("""[]""", """[{"containerID": 0, "hostID": 1000, "size": 1}]""", "config.json: linux.uidMappings is required with a user namespace")]
    [Arguments("""[{"containerID": 0, "hostID": 1000, "size": 1}]""", """[]""", "config.json: linux.gidMappings is required with a user namespace")]
    [Arguments("""[{"containerID": 0, "hostID": 1000, "size": 0}]""", """[{"containerID": 0, "hostID": 1000, "size": 1}]""",
        "config.json: invalid linux.uidMappings \"0:1000:0\": the count must be at least 1")]
    [Arguments("""[{"containerID": 0, "hostID": 1000, "size": 10}, {"containerID": 10, "hostID": 1005, "size": 10}]""",
        """[{"containerID": 0, "hostID": 1000, "size": 1}]""", "config.json: invalid linux.uidMappings \"10:1005:10\": its host IDs overlap those of \"0:1000:10\"")]
    [Arguments("""[{"containerID": 0, "hostID": 1000, "size": 1}]""", """[{"containerID": 1, "hostID": 1000, "size": 1}]""",
        "config.json: linux.gidMappings must map container ID 0 (tiny sets the container up as its root)")]
    [Arguments("""[{"containerID": 0, "hostID": 1000, "size": 1}]""", """[{"containerID": 0, "hostID": 1000, "size": 1}]""",
        "config.json: process.user.uid 1000 is not mapped by linux.uidMappings")]
    public async Task Bad_user_namespace_mappings_name_the_field(string uidMappings, string gidMappings, string message)
    {
        await Assert.That(await Refusal(c =>
        {
            WithUserNamespace(c, uidMappings, gidMappings);
            if (message.Contains("process.user")) c["process"]!["user"] = JsonNode.Parse("""{"uid": 1000, "gid": 0}""");
        })).IsEqualTo(message);
        await Assert.That(await Refusal(c => c["linux"]!["namespaces"]!.AsArray().Add(JsonNode.Parse("""{"type": "user", "path": "/proc/1/ns/user"}"""))))
            .IsEqualTo("config.json: linux.namespaces \"user\" path (joining a user namespace) is not supported by tiny");
    }

    [Test]
    public async Task The_rootless_spec_converts_to_a_user_namespace_of_the_callers_ids_with_the_hosts_network()
    {
        var config = JsonNode.Parse(JsonSerializer.Serialize(OciSpec.RootlessConfig(1000, 1001, cgroupNamespace: true), OciJsonContext.Default.OciConfig))!.AsObject();
        config["process"]!["terminal"] = false;
        var spec = Convert(config).Spec;
        await Assert.That(spec.UserNamespace).IsEqualTo(new UserNamespace([new(0, 1000, 1)], [new(0, 1001, 1)]));
        await Assert.That(spec.Network).IsEqualTo(NetworkMode.Host);
        await Assert.That(spec.Namespaces!.Any(n => n.Type == Namespace.CLONE_NEWNET)).IsFalse();
        // The host's /sys as runc lists it rootless: a bind of its own, over the one tiny's set-up makes without a network namespace.
        await Assert.That(spec.Mounts.Select(m => $"{m.Destination} {m.Source}")).IsEquivalentTo(["/sys /sys"], CollectionOrdering.Matching);
        await Assert.That(config["mounts"]!.AsArray().Single(m => (string?)m!["destination"] == "/sys")!["options"]!.ToJsonString())
            .IsEqualTo("""["rbind","nosuid","noexec","nodev","ro"]""");
    }

    [Test]
    public async Task Unknown_properties_are_ignored_as_the_spec_requires_and_broken_json_is_one_line()
    {
        await Assert.That(Convert(Config(c => c["org.example.extension"] = 1)).Spec.Command[0]).IsEqualTo("sh");
        var error = Assert.Throws<ContainerError>(() => OciConversion.Parse("{\"process\": [1,"u8, "b/config.json"));
        await Assert.That(error.Message).StartsWith("b/config.json: ");
        await Assert.That(error.Message).DoesNotContain("\n");
    }

    [Test]
    public async Task A_security_label_is_skipped_when_its_lsm_is_off_and_refused_when_on()
    {
        Action<JsonObject> edit = c => c["process"]!["apparmorProfile"] = "docker-default";
        await Assert.That(Convert(Config(edit)).Skipped).Contains(s => s.StartsWith("process.apparmorProfile skipped"));
        var error = Assert.Throws<ContainerError>(() => Convert(Config(edit), lsm: true));
        await Assert.That(error.Message).Contains("process.apparmorProfile is not supported");
    }

    [Test]
    public async Task The_exec_fifo_plan_reports_ready_then_waits_and_keeps_no_parent_death_signal()
    {
        var spec = Convert(Config(c => c["process"]!["args"] = JsonNode.Parse("""["/bin/true"]"""))).Spec with { PreserveFds = 2 };
        var channel = new ContainerPlan.Channel(SyncRead: 5, SyncWrite: 6, ErrorRead: 7, ErrorWrite: 8);
        var plan = ContainerPlan.Build(spec, channel, [1, 2, 3, 4, 5, 6, 7, 8], signalMask: 0, lastCap: 40, networkMounts: [], execFifo: "/proc/self/fd/9");
        var steps = plan.Steps;
        await Assert.That(steps.OfType<SetParentDeathSignal>()).IsEmpty();
        var ready = steps.Select((s, i) => (s, i)).Single(p => p.s is ReportReady).i;
        await Assert.That(steps[ready]).IsEqualTo(new ReportReady(8));
        await Assert.That(steps[ready + 1]).IsEqualTo(new CloseFd(8));
        await Assert.That(steps[ready + 2]).IsEqualTo(new WaitForStart("/proc/self/fd/9", 8));
        await Assert.That(steps[ready + 3]).IsEqualTo(new LoadSeccompFilter([1, 2, 3, 4, 5, 6, 7, 8]));
        await Assert.That(steps[^1]).IsTypeOf<Exec>();
        await Assert.That(steps.OfType<CloseFdsOnExec>().Single()).IsEqualTo(new CloseFdsOnExec(5));
        await Assert.That(steps.OfType<SetRlimit>().Single()).IsEqualTo(new SetRlimit(7, 1024, 1024));
        await Assert.That(plan.CloneFlags & Namespace.CLONE_NEWCGROUP).IsEqualTo(0UL);
        await Assert.That(steps.OfType<Unshare>().Single()).IsEqualTo(new Unshare(Namespace.CLONE_NEWCGROUP));
    }

    [Test]
    public async Task Joined_namespaces_are_setns_steps_the_mount_one_last_and_sysctls_precede_the_read_only_paths()
    {
        await Assert.That(await Refusal(c =>
        {
            c["linux"]!["namespaces"] = JsonNode.Parse(
                """[{"type": "mount", "path": "/proc/self/ns/mnt"}, {"type": "uts"}, {"type": "ipc", "path": "/proc/self/ns/ipc"}]""");
            c["linux"]!["sysctl"] = JsonNode.Parse("""{"kernel.shmmax": "1000"}""");
        })).Contains("needs a ipc namespace of the container's own");

        var joined = Convert(Config(c =>
        {
            c["linux"]!["namespaces"] = JsonNode.Parse(
                """[{"type": "mount", "path": "/proc/self/ns/mnt"}, {"type": "uts"}, {"type": "ipc"}, {"type": "network", "path": "/proc/self/ns/net"}]""");
            c["linux"]!["sysctl"] = JsonNode.Parse("""{"kernel.shmmax": "1000"}""");
            c["process"]!["noNewPrivileges"] = false;
        })).Spec;
        var plan = ContainerPlan.Build(joined, new ContainerPlan.Channel(5, 6, 7, 8), [0, 0, 0, 0, 0, 0, 0, 0], 0, 40, []);
        var steps = plan.Steps.ToList();
        await Assert.That(plan.CloneFlags).IsEqualTo(Namespace.CLONE_NEWUTS | Namespace.CLONE_NEWIPC);
        await Assert.That(plan.Steps.OfType<JoinNamespace>()).IsEquivalentTo(
            [new JoinNamespace("/proc/self/ns/net", Namespace.CLONE_NEWNET), new JoinNamespace("/proc/self/ns/mnt", Namespace.CLONE_NEWNS)],
            CollectionOrdering.Matching);
        var sysctl = steps.IndexOf(new WriteFile("/proc/sys/kernel/shmmax", "1000"));
        await Assert.That(sysctl).IsGreaterThan(steps.IndexOf(steps.OfType<PivotRoot>().Single()));
        await Assert.That(sysctl).IsLessThan(steps.IndexOf(steps.OfType<ReadonlyPath>().First()));
        // Without no_new_privs the filter goes in while tiny still has CAP_SYS_ADMIN.
        await Assert.That(steps.IndexOf(steps.OfType<LoadSeccompFilter>().Single()))
            .IsLessThan(steps.IndexOf(steps.OfType<SetUid>().Single()));
        await Assert.That(plan.Steps.OfType<SetNoNewPrivileges>()).IsEmpty();
        await Assert.That(plan.Steps.OfType<BringLoopbackUp>()).IsEmpty();
    }
}
