using System.Text;
using System.Diagnostics;
using System.Text.Json;
using Tiny.Runtime;
using Tiny.Runtime.Oci;
using Tiny.Tests.Integration.Oci;

namespace Tiny.Tests.Unit.Oci;

/// <summary>The hand-written config.json reader against JsonSerializer with <see cref="OciJsonContext"/>, the reader it replaced.</summary>
public class OciConfigReaderTests
{
    /// <summary>
    /// config.json read by <see cref="OciConversion.Parse"/>, after checking that JsonSerializer reads the same object
    /// graph from it (both serialized with <see cref="OciJsonContext"/>). The unit tests that convert a config read it here.
    /// </summary>
    public static OciConfig Parse(string json)
    {
        var expected = JsonSerializer.Deserialize(json, OciJsonContext.Default.OciConfig)!;
        var actual = OciConversion.Parse(Encoding.UTF8.GetBytes(json));
        var expectedJson = JsonSerializer.Serialize(expected, OciJsonContext.Default.OciConfig);
        var actualJson = JsonSerializer.Serialize(actual, OciJsonContext.Default.OciConfig);
        if (actualJson != expectedJson)
            throw new InvalidOperationException($"config.json read differently.\nJsonSerializer:\n{expectedJson}\nOciConfigReader:\n{actualJson}");
        return actual;
    }

    static string Spec(OciConfig config) => JsonSerializer.Serialize(config, OciJsonContext.Default.OciConfig);

    /// <summary>Every property of every class, some cased otherwise, repeated, null, or unknown.</summary>
    const string EveryField = """
        {
          "ociVersion": "1.2.0",
          "OCIVERSION": "1.0.2",
          "x-unknown": {"deep": [1, {"a": [true, null]}], "more": "s"},
          "process": {
            "terminal": true, "consoleSize": {"height": 24, "width": 80, "depth": 3},
            "user": {"uid": 1, "gid": 2, "umask": 18, "additionalGids": [5, 6], "username": "u"},
            "args": ["sh", "-c", "echo \"hi\" \u00e9\n"], "commandLine": "cmd /c", "env": ["A=1", "B=2"], "cwd": "/w",
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_CHOWN"], "inheritable": [], "permitted": ["CAP_KILL"], "ambient": ["CAP_NET_RAW"]},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 18446744073709551615, "soft": 1024}, {"Type": "RLIMIT_CORE", "HARD": 0, "soft": 0}],
            "noNewPrivileges": true, "apparmorProfile": "p", "oomScoreAdj": -1000,
            "scheduler": {"policy": "SCHED_FIFO", "priority": 1}, "selinuxLabel": "l",
            "ioPriority": {"class": "IOPRIO_CLASS_RT", "priority": 7}, "execCPUAffinity": {"initial": "0", "final": "1-2"}
          },
          "root": {"path": "rootfs", "readonly": true},
          "hostname": "h", "domainname": "d",
          "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/m", "type": "bind", "source": "/s", "options": ["rbind", "ro"],
             "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}], "gidMappings": []},
            null
          ],
          "hooks": {
            "prestart": [{"path": "/p", "args": ["p", "1"], "env": ["E=1"], "timeout": 5}],
            "createRuntime": [{"path": "/cr"}], "createContainer": [{"path": "/cc", "timeout": null}],
            "startContainer": [{"path": "/sc"}], "poststart": [], "poststop": [{"path": "/ps", "args": null}]
          },
          "annotations": {"a": "1", "b": null, "a": "2", "A": "3"},
          "linux": {
            "namespaces": [{"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"}, {"TYPE": "user"}],
            "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            "GIDMAPPINGS": [{"containerid": 0, "HostId": 100000, "size": 65536}],
            "timeOffsets": {"monotonic": {"secs": 1, "nanosecs": 2}},
            "devices": [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0},
                        {"type": "b", "path": "/dev/sdz", "major": -1, "minor": 0, "fileMode": null}],
            "netDevices": {"eth1": {"name": "e"}},
            "cgroupsPath": "/tiny/c", "rootfsPropagation": "rslave",
            "resources": {
              "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": null, "access": "r"}],
              "memory": {"limit": 1000000, "reservation": 1, "swap": -1, "kernel": 2, "kernelTCP": 3, "swappiness": 60,
                         "disableOOMKiller": true, "useHierarchy": false, "checkBeforeUpdate": null},
              "cpu": {"shares": 1024, "quota": -1, "burst": 0, "period": 100000, "realtimeRuntime": -5, "realtimePeriod": 6,
                      "cpus": "0-1", "mems": "0", "idle": 1},
              "pids": {"limit": -1},
              "blockIO": {"weight": 100, "leafWeight": 10,
                          "weightDevice": [{"major": 8, "minor": 0, "weight": 500, "leafWeight": null}],
                          "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1}],
                          "throttleWriteBpsDevice": [{"major": 8, "minor": 1, "rate": 2}],
                          "throttleReadIOPSDevice": [{"major": 8, "minor": 2, "rate": 3}],
                          "throttlewriteiopsdevice": [{"major": 8, "minor": 3, "rate": 18446744073709551615}]},
              "hugepageLimits": [{"pageSize": "2MB", "limit": 4096}],
              "network": {"classID": 1, "priorities": [{"name": "eth0", "priority": 2}]},
              "rdma": {"mlx5_1": {"hcaHandles": 3}}, "unified": {"memory.high": "1G"}
            },
            "sysctl": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "9"},
            "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "architectures": ["SCMP_ARCH_X86_64"],
                        "flags": ["SECCOMP_FILTER_FLAG_LOG"], "listenerPath": "/l", "listenerMetadata": "m",
                        "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ALLOW", "errnoRet": null,
                                      "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"},
                                               {"index": 1, "value": 18446744073709551615, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}]},
                                     {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]},
            "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"], "mountLabel": "ml",
            "personality": {"domain": "LINUX32", "flags": ["f"]},
            "intelRdt": {"closID": "c", "l3CacheSchema": "L3:0=f"}, "memoryPolicy": {"mode": "MPOL_BIND", "nodes": "0"}
          },
          "solaris": {"milestone": "m"}, "windows": [], "vm": {"hypervisor": {"path": "/h"}}, "zos": null,
          "\u0070rocess": {"args": ["the", "last", "process", "wins"], "Terminal": false, "user": {"uid": 0, "gid": 0}}
        }
        """;

    public static IEnumerable<Func<string>> Corpus()
    {
        yield return () => Spec(OciSpec.DefaultConfig(cgroupNamespace: true));
        yield return () => Spec(OciSpec.DefaultConfig(cgroupNamespace: false));
        yield return () => Spec(OciSpec.RootlessConfig(1000, 1000, cgroupNamespace: true));
        yield return () => Spec(OciSpec.RootlessConfig(1000, 1000, cgroupNamespace: false));
        yield return () => EveryField;
        yield return () => """{"linux": {"solaris": 1}, "mounts": [], "annotations": {}, "process": {"args": ["a", null]}}""";
        yield return () => """{"solaris": 1, "windows": "w", "vm": true, "zos": false, "linux": {"resources": {"unified": null}}}""";
        yield return () => "{}";
        yield return () => " { \"process\" : null , \"linux\" : { } } ";
    }

    [Test]
    [MethodDataSource(nameof(Corpus))]
    public async Task Reads_the_same_object_graph_as_JsonSerializer(string json) => await Assert.That(Parse(json)).IsNotNull();

    [Test]
    [Arguments("")]
    [Arguments("--rootless")]
    public async Task Reads_runcs_spec_as_JsonSerializer_does(string option)
    {
        Skip.Unless(File.Exists(RuntimeUnderTest.Runc), "runc is not installed");
        var bundle = Directory.CreateTempSubdirectory("tiny-runc-spec-").FullName;
        try
        {
            using var runc = Process.Start(RuntimeUnderTest.Runc, option == "" ? ["spec", "--bundle", bundle] : ["spec", option, "--bundle", bundle])!;
            await runc.WaitForExitAsync();
            await Assert.That(runc.ExitCode).IsEqualTo(0);
            await Assert.That(Parse(await File.ReadAllTextAsync(Path.Combine(bundle, "config.json"))).Process!.Args).IsEquivalentTo(["sh"]);
        }
        finally
        {
            Directory.Delete(bundle, recursive: true);
        }
    }

    [Test]
    [Arguments("")]
    [Arguments("   ")]
    [Arguments("{\"process\": [1,")]
    [Arguments("{\"ociVersion\": \"1.0.0\",}")]
    [Arguments("/* comment */ {}")]
    [Arguments("{} {}")]
    [Arguments("[]")]
    [Arguments("\"config\"")]
    [Arguments("{\"ociVersion\": 1}")]
    [Arguments("{\"process\": {\"terminal\": \"yes\"}}")]
    [Arguments("{\"process\": {\"terminal\": null}}")]
    [Arguments("{\"process\": {\"args\": [1]}}")]
    [Arguments("{\"process\": {\"args\": {}}}")]
    [Arguments("{\"process\": {\"user\": {\"uid\": -1}}}")]
    [Arguments("{\"process\": {\"user\": {\"uid\": 4294967296}}}")]
    [Arguments("{\"process\": {\"user\": {\"uid\": 1e2}}}")]
    [Arguments("{\"process\": {\"user\": {\"additionalGids\": [null]}}}")]
    [Arguments("{\"process\": {\"oomScoreAdj\": 1.5}}")]
    [Arguments("{\"hooks\": {\"prestart\": [{\"timeout\": \"5\"}]}}")]
    [Arguments("{\"mounts\": [1]}")]
    [Arguments("{\"annotations\": {\"a\": 1}}")]
    [Arguments("{\"annotations\": []}")]
    [Arguments("{\"linux\": {\"namespaces\": {}}}")]
    [Arguments("{\"linux\": {\"resources\": {\"memory\": {\"limit\": 9223372036854775808}}}}")]
    [Arguments("{\"linux\": {\"seccomp\": {\"syscalls\": [{\"args\": [{\"value\": -1}]}]}}}")]
    [Arguments("{\"linux\": {\"intelRdt\": {\"closID\": }}}")]
    [Arguments("{\"x\": " + "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[" + "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]" + "}")]
    public async Task A_document_JsonSerializer_refuses_is_one_line_naming_config_json(string json)
    {
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize(json, OciJsonContext.Default.OciConfig));
        var error = Assert.Throws<ContainerError>(() => OciConversion.Parse(Encoding.UTF8.GetBytes(json), "b/config.json"));
        await Assert.That(error.Message).StartsWith("b/config.json: ");
        await Assert.That(error.Message).DoesNotContain("\n");
        await Assert.That(error.ExitCode).IsEqualTo(125);
    }

    [Test]
    public async Task A_null_document_is_empty()
    {
        var error = Assert.Throws<ContainerError>(() => OciConversion.Parse(" null "u8, "b/config.json"));
        await Assert.That(error.Message).IsEqualTo("b/config.json: empty document");
    }

    [Test]
    public async Task A_wrong_type_names_what_was_expected_and_where()
    {
        var error = Assert.Throws<ContainerError>(() => OciConversion.Parse("{\"process\": {\"user\": {\"uid\": -1}}}"u8, "b/config.json"));
        await Assert.That(error.Message).IsEqualTo("b/config.json: expected an unsigned 32-bit integer, found -1 at byte 29");
    }

    [Test]
    public async Task A_config_json_that_starts_with_a_byte_order_mark_reads_as_one_without()
    {
        var config = OciConversion.Parse([0xEF, 0xBB, 0xBF, .. "{\"ociVersion\": \"1.2.0\"}"u8]);
        await Assert.That(config.OciVersion).IsEqualTo("1.2.0");
    }
}
