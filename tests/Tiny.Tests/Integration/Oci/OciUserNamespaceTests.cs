using System.Text.Json.Nodes;

namespace Tiny.Tests.Integration.Oci;

/// <summary>A bundle with a user namespace (linux.uidMappings and gidMappings): what the container sees under tiny
/// and runc, and the lifecycle with the init running as the mapped IDs on the host.</summary>
public class OciUserNamespaceTests
{
    const uint HostStart = 3000000000;

    static Action<JsonObject> MappedTo(uint hostStart) => config =>
    {
        config["linux"]!["namespaces"]!.AsArray().Add(JsonNode.Parse("""{"type": "user"}"""));
        config["linux"]!["uidMappings"] = JsonNode.Parse($$"""[{"containerID": 0, "hostID": {{hostStart}}, "size": 65536}]""");
        config["linux"]!["gidMappings"] = JsonNode.Parse($$"""[{"containerID": 0, "hostID": {{hostStart}}, "size": 65536}]""");
    };

    [Test]
    public async Task The_container_sees_the_same_maps_ids_owners_and_devices_under_tiny_and_runc()
    {
        RuntimeUnderTest.Require("runc");
        // The rootfs is not id-mapped (as runc): files of host root belong to no mapped ID, so they show as the overflow ID.
        const string probe = "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; stat -c %u:%g / /bin/busybox; "
            + "grep -E '^Cap(Eff|Bnd)' /proc/self/status; ls /dev | sort | tr '\\n' ' '; echo; echo > /dev/null && echo null-writable; "
            + "mknod /tmp/n c 1 3 2>/dev/null || echo mknod-refused";
        using var bundle = await OciBundle.Create(["sh", "-c", probe], MappedTo(HostStart));
        var outputs = new Dictionary<string, Tiny.Result>();
        foreach (var name in new[] { "tiny", "runc" })
        {
            using var runtime = RuntimeUnderTest.Of(name);
            outputs[name] = await runtime.Run("run", "--bundle", bundle.Path, runtime.NewId("userns"));
        }
        await Assert.That(outputs["tiny"].Stderr).IsEmpty();
        await Assert.That(outputs["tiny"].ExitCode).IsEqualTo(0);
        var map = $"{0,10} {HostStart,10} {65536,10}\n";
        await Assert.That(outputs["tiny"].Stdout).StartsWith($"0\n0\n{map}{map}65534:65534\n65534:65534\nCapEff:\t0000000020000420\n");
        await Assert.That(outputs["tiny"].Stdout).Contains("null-writable\nmknod-refused\n");
        await Assert.That(outputs["tiny"].Stdout).IsEqualTo(outputs["runc"].Stdout);
    }

    [Test]
    public async Task Create_start_state_kill_delete_with_the_init_running_as_the_mapped_ids()
    {
        Tiny.RequireRootAndBinary();
        using var runtime = RuntimeUnderTest.Of("tiny");
        using var bundle = await OciBundle.Create(["sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.05; done"], MappedTo(HostStart + 65536));
        var id = runtime.NewId("userns-life");

        await Assert.That((await runtime.Detached("create", "--bundle", bundle.Path, id)).ExitCode).IsEqualTo(0);
        var created = await runtime.State(id);
        await Assert.That((string?)created["status"]).IsEqualTo("created");
        var pid = (int)created["pid"]!;
        var uids = File.ReadAllLines($"/proc/{pid}/status").Single(l => l.StartsWith("Uid:"));
        await Assert.That(uids).IsEqualTo($"Uid:\t{HostStart + 65536}\t{HostStart + 65536}\t{HostStart + 65536}\t{HostStart + 65536}");
        await Assert.That(File.ReadAllText($"/proc/{pid}/uid_map")).IsEqualTo($"{0,10} {HostStart + 65536,10} {65536,10}\n");

        await Assert.That((await runtime.Run("start", id)).ExitCode).IsEqualTo(0);
        await Assert.That((string?)(await runtime.State(id))["status"]).IsEqualTo("running");
        await Assert.That((await runtime.Run("kill", id, "TERM")).ExitCode).IsEqualTo(0);
        await Assert.That((string?)(await runtime.WaitForStatus(id, "stopped"))["status"]).IsEqualTo("stopped");
        await Assert.That((await runtime.Run("delete", id)).ExitCode).IsEqualTo(0);
        await Assert.That(Directory.Exists(Path.Combine(runtime.Root, id))).IsFalse();
        await Assert.That(Tiny.CgroupDirectoriesOf(id)).IsEmpty();
    }

    [Test]
    public async Task A_tmpcopyup_tmpfs_belongs_to_the_containers_root_and_keeps_the_copied_owners_as_under_runc()
    {
        RuntimeUnderTest.Require("runc");
        var rootfs = Directory.CreateTempSubdirectory("tiny-userns-copyup-").FullName;
        try
        {
            var made = await Tiny.Exec("/bin/sh", ["-c", BusyboxRootfs.CopyCommand("\"$0\"") + " && cd \"$0\" && mkdir -p data/sub && echo x > data/f && echo y > data/sub/g "
                + $"&& chown -R {HostStart}:{HostStart} data/sub && chown {HostStart + 1000}:{HostStart + 2000} data/f", rootfs]);
            if (made.ExitCode != 0) throw new InvalidOperationException(made.Stderr);
            using var bundle = await OciBundle.Create(["sh", "-c", "stat -c '%n %u:%g %a' /data /data/f /data/sub /data/sub/g; touch /data/new && stat -c %u:%g /data/new"],
                config =>
                {
                    MappedTo(HostStart)(config);
                    config["root"]!["path"] = rootfs;
                    config["mounts"]!.AsArray().Add(JsonNode.Parse("""{"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup"]}"""));
                });
            var outputs = await RuntimeUnderTest.RunUnderBoth(bundle, "userns-copyup");
            await Assert.That(outputs["tiny"].Stderr).IsEmpty();
            await Assert.That(outputs["tiny"].Stdout).IsEqualTo("/data 0:0 755\n/data/f 1000:2000 644\n/data/sub 0:0 755\n/data/sub/g 0:0 644\n0:0\n");
            await Assert.That(outputs["tiny"].Stdout).IsEqualTo(outputs["runc"].Stdout);
        }
        finally
        {
            Directory.Delete(rootfs, recursive: true);
        }
    }
}
