using Tiny.Runtime;
using Tiny.Runtime.Security;
using Tiny.Runtime.Spec;

namespace Tiny.Tests.Unit.Run;

public class RunOptionsTests
{
    static RunSpec Spec(RunOptions options, Func<string, string?>? hostEnv = null) => options.ToSpec(hostEnv ?? (_ => null));

    static readonly RunOptions Minimal = new() { Command = ["/bin/true"] };

    [Test]
    public async Task Defaults_are_the_hosts_root_dockers_caps_and_the_bridge_network()
    {
        var spec = Spec(Minimal);
        await Assert.That(spec.Rootfs).IsNull();
        await Assert.That(spec.Id.Length).IsEqualTo(12);
        await Assert.That(spec.Hostname).IsEqualTo(spec.Id);
        await Assert.That(spec.Capabilities).IsEqualTo(CapabilitySet.DockerDefault);
        await Assert.That(spec.Capabilities.Mask).IsEqualTo(0xa80425fbUL);
        await Assert.That(spec.Network).IsEqualTo(NetworkMode.Bridge);
        await Assert.That(spec.Bridge).IsEqualTo(new BridgeOptions(null, null, []));
        await Assert.That(spec.Env).IsEquivalentTo([$"PATH={RunDefaults.Path}", $"HOSTNAME={spec.Id}", "HOME=/root"], CollectionOrdering.Matching);
        await Assert.That(spec.Workdir).IsEqualTo("/");
        await Assert.That(spec.Limits.MemoryBytes).IsNull();
    }

    [Test]
    public async Task A_generated_id_is_12_hex_digits_never_digits_only()
    {
        // About one id in 280 would be digits only, which a resolver reads as a number rather than a hostname.
        var ids = Enumerable.Range(0, 5000).Select(_ => RunOptions.RandomId()).ToArray();
        await Assert.That(ids.All(id => id.Length == 12 && id.All(char.IsAsciiHexDigitLower))).IsTrue();
        await Assert.That(ids.Any(id => id.All(char.IsAsciiDigit))).IsFalse();
    }

    [Test]
    public async Task Without_root_the_default_network_is_none()
    {
        var spec = Minimal.ToSpec(_ => null, asRoot: false);
        await Assert.That(spec.Network).IsEqualTo(NetworkMode.None);
        await Assert.That(spec.Bridge).IsNull();
    }

    [Test]
    public async Task Bridge_options_are_kept_for_the_bridge_and_refused_for_other_networks()
    {
        var spec = Spec(Minimal with { Subnet = "10.77.0.0/16", Ip = "10.77.0.9", Publish = ["8080:80", "53:53/udp"] });
        await Assert.That(spec.Bridge!.Subnet).IsEqualTo("10.77.0.0/16");
        await Assert.That(spec.Bridge.Ip).IsEqualTo("10.77.0.9");
        await Assert.That(spec.Bridge.Publish).IsEquivalentTo(["8080:80", "53:53/udp"], CollectionOrdering.Matching);
        await Assert.That(() => Spec(Minimal with { Net = "none", Publish = ["8080:80"] }))
            .Throws<ContainerError>().WithMessage("--publish needs --net bridge (the network is none)");
        await Assert.That(() => Spec(Minimal with { Net = "host", Ip = "10.77.0.9" }))
            .Throws<ContainerError>().WithMessage("--ip needs --net bridge (the network is host)");
    }

    [Test]
    public async Task Env_overrides_defaults_and_a_bare_key_comes_from_the_host()
    {
        var spec = Spec(Minimal with { Env = ["PATH=/x", "FROM_HOST", "MISSING", "A=b=c"] }, k => k == "FROM_HOST" ? "yes" : null);
        await Assert.That(spec.Env).IsEquivalentTo([$"HOSTNAME={spec.Id}", "HOME=/root", "PATH=/x", "FROM_HOST=yes", "A=b=c"], CollectionOrdering.Matching);
    }

    [Test]
    public async Task Limits_are_converted_to_kernel_units()
    {
        var spec = Spec(Minimal with { Memory = "512M", Cpus = "1.5", CpuWeight = 100, Pids = 64 });
        await Assert.That(spec.Limits.MemoryBytes).IsEqualTo(512L << 20);
        await Assert.That(spec.Limits.CpuQuotaMicros).IsEqualTo(150_000L);
        await Assert.That(spec.Limits.CpuWeight).IsEqualTo(100);
        await Assert.That(spec.Limits.PidsMax).IsEqualTo(64L);
    }

    [Test]
    [Arguments("1024", 1024L)]
    [Arguments("64k", 65536L)]
    [Arguments("32M", 33554432L)]
    [Arguments("1.5g", 1610612736L)]
    [Arguments("2GB", 2147483648L)]
    public async Task Sizes_use_powers_of_1024(string text, long bytes)
    {
        await Assert.That(Size.Parse(text, "--memory")).IsEqualTo(bytes);
    }

    [Test]
    [Arguments("")]
    [Arguments("M")]
    [Arguments("-5M")]
    [Arguments("12X")]
    [Arguments("0")]
    public async Task Bad_sizes_are_refused(string text)
    {
        await Assert.That(() => Size.Parse(text, "--memory")).Throws<ContainerError>();
    }

    [Test]
    public async Task Caps_drop_then_add_and_all_works_both_ways()
    {
        var spec = Spec(Minimal with { CapDrop = ["ALL"], CapAdd = ["net_admin", "CAP_KILL"] });
        await Assert.That(spec.Capabilities).IsEqualTo(CapabilitySet.Of(Capability.NetAdmin, Capability.Kill));
        var all = Spec(Minimal with { CapAdd = ["ALL"] });
        await Assert.That(all.Capabilities).IsEqualTo(CapabilitySet.Bounding());
        await Assert.That(all.Capabilities.Mask & CapabilitySet.DockerDefault.Mask).IsEqualTo(CapabilitySet.DockerDefault.Mask);
    }

    [Test]
    public async Task Every_bad_value_is_one_error_naming_it()
    {
        async Task Refused(RunOptions options, string message)
        {
            var error = Assert.Throws<ContainerError>(() => Spec(options));
            await Assert.That(error.Message).IsEqualTo(message);
            await Assert.That(error.ExitCode).IsEqualTo(125);
        }
        await Refused(new RunOptions(), "run needs a command: tiny run [options] [--] COMMAND [ARG...]");
        await Refused(Minimal with { Rootfs = "/definitely/not/here" }, "rootfs /definitely/not/here: no such file or directory");
        await Refused(Minimal with { Workdir = "tmp" }, "invalid --workdir \"tmp\": must be an absolute path");
        await Refused(Minimal with { Pids = 0 }, "invalid --pids 0: must be a positive number");
        await Refused(Minimal with { Cpus = "lots" }, "invalid --cpus \"lots\": expected a positive number such as 1.5");
        await Refused(Minimal with { CapDrop = ["CAP_NOPE"] }, "invalid --cap-drop \"CAP_NOPE\": unknown capability");
        await Refused(Minimal with { Name = "a/b" }, "invalid --name \"a/b\": use letters, digits, '_', '.' and '-' (at most 64, starting with a letter or digit)");
    }

    [Test]
    [Arguments("-a", false)]
    [Arguments(".a", false)]
    [Arguments("a\n", false)]
    [Arguments("a b", false)]
    [Arguments("a_b.c-9", true)]
    public async Task Names_are_dockers_letters_digits_and_punctuation(string name, bool accepted)
    {
        if (accepted) await Assert.That(Spec(Minimal with { Name = name }).Hostname).IsEqualTo(name);
        else await Assert.That(Assert.Throws<ContainerError>(() => Spec(Minimal with { Name = name })).Message).StartsWith("invalid --name");
    }

    [Test]
    public async Task Names_are_at_most_64_characters()
    {
        await Assert.That(Spec(Minimal with { Name = new string('n', 64) }).Hostname).IsEqualTo(new string('n', 64));
        await Assert.That(Assert.Throws<ContainerError>(() => Spec(Minimal with { Name = new string('n', 65) })).Message).StartsWith("invalid --name");
    }

    [Test]
    public async Task User_names_are_read_from_the_rootfs()
    {
        var rootfs = Directory.CreateTempSubdirectory("tiny-users-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(rootfs, "etc"));
            File.WriteAllText(Path.Combine(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:App:/home/app:/bin/sh\n");
            File.WriteAllText(Path.Combine(rootfs, "etc/group"), "root:x:0:\nstaff:x:50:\n");
            var app = Spec(Minimal with { Rootfs = rootfs, User = "app" });
            await Assert.That((app.Uid, app.Gid)).IsEqualTo((1000u, 1001u));
            await Assert.That(app.Env).Contains("HOME=/home/app");
            var mixed = Spec(Minimal with { Rootfs = rootfs, User = "1000:staff" });
            await Assert.That((mixed.Uid, mixed.Gid)).IsEqualTo((1000u, 50u));
            var numeric = Spec(Minimal with { Rootfs = rootfs, User = "4242" });
            await Assert.That((numeric.Uid, numeric.Gid)).IsEqualTo((4242u, 0u));
            await Assert.That(() => Spec(Minimal with { Rootfs = rootfs, User = "ghost" })).Throws<ContainerError>();
        }
        finally
        {
            Directory.Delete(rootfs, recursive: true);
        }
    }
}
