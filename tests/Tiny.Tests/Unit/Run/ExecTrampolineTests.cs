using System.Buffers.Binary;
using System.Text;
using Tiny.Interop;
using Tiny.Runtime.Plan;
using Tiny.Runtime.Security;
using Tiny.Runtime.Spec;
using TinyProcess = Tiny.Tests.Integration.Tiny;

namespace Tiny.Tests.Unit.Run;

/// <summary>The exec trampoline (CVE-2019-5736 without a second start of tiny): its ELF image, the containers it
/// covers, and the program itself, run here as an ordinary process (no root: it only execs).</summary>
public class ExecTrampolineTests
{
    const string Nonce = "0123456789abcdef";

    static RunSpec Spec() => new()
    {
        Id = "c1", Hostname = "box", Rootfs = "/srv/rootfs", Command = ["sh", "-c", "true"], Env = ["PATH=/bin"],
    };

    static ulong U64(byte[] image, long offset) => BinaryPrimitives.ReadUInt64LittleEndian(image.AsSpan((int)offset));

    static string StringAt(byte[] image, ulong address)
    {
        var start = (int)(address - ExecTrampoline.LoadAddress);
        return Encoding.UTF8.GetString(image, start, Array.IndexOf(image, (byte)0, start) - start);
    }

    static List<string> StringsAt(byte[] image, ulong arrayAddress)
    {
        List<string> strings = [];
        for (var slot = (long)(arrayAddress - ExecTrampoline.LoadAddress); U64(image, slot) != 0; slot += 8)
            strings.Add(StringAt(image, U64(image, slot)));
        return strings;
    }

    [Test]
    public async Task The_image_is_a_static_x86_64_executable_whose_parameters_point_at_the_command()
    {
        var image = ExecTrampoline.Image(reportFd: 9, step: 41, Nonce, ["/usr/bin/env", "/bin/env"], ["env", "-i"], ["A=1", "B=ü"]);
        await Assert.That(image.AsSpan(0, 4).SequenceEqual("\u007fELF"u8)).IsTrue();
        await Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan(16))).IsEqualTo((ushort)2); // ET_EXEC
        await Assert.That(BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan(18))).IsEqualTo((ushort)62); // EM_X86_64
        var entry = U64(image, 24);
        await Assert.That(entry).IsEqualTo(ExecTrampoline.LoadAddress + ExecTrampoline.HeadersSize);
        // PT_LOAD maps the whole file at the load address, readable and executable only.
        await Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(64))).IsEqualTo(1u);
        await Assert.That(BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(68))).IsEqualTo(5u);
        await Assert.That(U64(image, 64 + 32)).IsEqualTo((ulong)image.Length);

        // The code's first instruction, lea r12, [rip + disp32], finds the parameter block.
        var code = (int)(entry - ExecTrampoline.LoadAddress);
        var parameters = code + 7 + BinaryPrimitives.ReadInt32LittleEndian(image.AsSpan(code + 3));
        await Assert.That(parameters % 8).IsEqualTo(0);
        await Assert.That(U64(image, parameters)).IsEqualTo(9UL);
        await Assert.That(U64(image, parameters + 8)).IsEqualTo(41UL);
        await Assert.That(StringsAt(image, U64(image, parameters + 16))).IsEquivalentTo(["env", "-i"]);
        await Assert.That(StringsAt(image, U64(image, parameters + 24))).IsEquivalentTo(["A=1", "B=ü"]);
        await Assert.That(Encoding.ASCII.GetString(image, parameters + 32, 16)).IsEqualTo(Nonce);
        await Assert.That(StringsAt(image, ExecTrampoline.LoadAddress + (ulong)parameters + 48)).IsEquivalentTo(["/usr/bin/env", "/bin/env"]);
    }

    [Test]
    public async Task It_covers_a_container_with_its_own_pid_namespace_and_no_ptrace_capability_unless_tiny_is_its_init()
    {
        await Assert.That(ExecTrampoline.Covers(Spec())).IsTrue();
        await Assert.That(ExecTrampoline.Covers(Spec() with { Init = true })).IsFalse();
        await Assert.That(ExecTrampoline.Covers(Spec() with { Namespaces = [new(Namespace.CLONE_NEWNS), new(Namespace.CLONE_NEWPID)] })).IsTrue();
        await Assert.That(ExecTrampoline.Covers(Spec() with { Namespaces = [new(Namespace.CLONE_NEWNS)] })).IsFalse();
        await Assert.That(ExecTrampoline.Covers(Spec() with { Namespaces = [new(Namespace.CLONE_NEWPID, "/proc/1/ns/pid")] })).IsFalse();
        var ptrace = new CapabilitySet(CapabilitySet.DockerDefault.Mask | 1UL << (int)Capability.SysPtrace);
        await Assert.That(ExecTrampoline.Covers(Spec() with { Capabilities = ptrace })).IsFalse();
        await Assert.That(ExecTrampoline.Covers(Spec() with
        {
            CapabilitySets = new ProcessCapabilities(ptrace, CapabilitySet.DockerDefault, CapabilitySet.DockerDefault, new(0), new(0)),
        })).IsFalse();
    }

    [Test]
    public async Task A_user_other_than_root_with_no_new_privs_is_covered_only_when_it_permits_no_more_than_its_ambient_set()
    {
        var bind = new CapabilitySet(1UL << (int)Capability.NetBindService);
        await Assert.That(ExecTrampoline.Covers(Spec() with { Uid = 0, NoNewPrivileges = true })).IsTrue();
        await Assert.That(ExecTrampoline.Covers(Spec() with { Uid = 1000, NoNewPrivileges = false })).IsTrue();
        await Assert.That(ExecTrampoline.Covers(Spec() with { Uid = 1000, NoNewPrivileges = true })).IsFalse();
        await Assert.That(ExecTrampoline.Covers(Spec() with
        {
            Uid = 1000, NoNewPrivileges = true, CapabilitySets = new ProcessCapabilities(bind, bind, bind, bind, bind),
        })).IsTrue();
        await Assert.That(ExecTrampoline.Covers(Spec() with
        {
            Uid = 1000, NoNewPrivileges = true, CapabilitySets = new ProcessCapabilities(bind, new(0), new(0), new(0), new(0)),
        })).IsTrue();
    }

    [Test]
    public async Task A_covered_init_is_not_dumpable_from_its_first_step_and_execs_through_the_trampoline_last()
    {
        using var trampoline = ExecTrampoline.Open();
        var channel = new ContainerPlan.Channel(SyncRead: 5, SyncWrite: 6, ErrorRead: 7, ErrorWrite: 8);
        var plan = ContainerPlan.Build(Spec(), channel, null, signalMask: 0, lastCap: 40, [], trampoline: trampoline);
        await Assert.That(plan.Steps[0]).IsEqualTo(new SetDumpable(false));
        var exec = (ExecThroughTrampoline)plan.Steps[^1];
        await Assert.That(exec.TrampolineFd).IsEqualTo(trampoline.Fd);
        await Assert.That(exec.ReportFd).IsEqualTo(8);
        await Assert.That(exec.Nonce).IsEqualTo(trampoline.Nonce);
        await Assert.That(exec.Exec.Argv).IsEquivalentTo(["sh", "-c", "true"]);
        await Assert.That(exec.Exec.Candidates).IsEquivalentTo(["/bin/sh"]);

        var plain = ContainerPlan.Build(Spec(), channel, null, signalMask: 0, lastCap: 40, []);
        await Assert.That(plain.Steps.OfType<SetDumpable>()).IsEmpty();
        await Assert.That(plain.Steps[^1]).IsTypeOf<Exec>();
    }

    /// <summary>Runs an image as bash's `exec -a ARGV0`, with fd 9 open on <c>report</c>.</summary>
    static async Task<(TinyProcess.Result Result, byte[] Report)> RunImage(byte[] image, string argv0)
    {
        var work = Directory.CreateTempSubdirectory("tiny-trampoline-").FullName;
        try
        {
            // The shell makes the program from the image: a file this process wrote could still be open for writing in
            // a child another test forks meanwhile (until its exec closes it), and exec then fails with ETXTBSY.
            var imageFile = Path.Combine(work, "image");
            File.WriteAllBytes(imageFile, image);
            var program = Path.Combine(work, "trampoline");
            var report = Path.Combine(work, "report");
            var result = await TinyProcess.Exec("/bin/bash",
                ["-c", $"cp {imageFile} {program} && chmod 500 {program} && exec 9>{report} && exec -a {argv0} {program}"]);
            return (result, File.ReadAllBytes(report));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Test]
    public async Task With_its_nonce_it_execs_the_first_candidate_that_exists_with_the_commands_argv_and_env()
    {
        var image = ExecTrampoline.Image(9, 3, Nonce, ["/nonexistent/sh", "/bin/sh"], ["sh", "-c", "echo \"$0 $GREETING\"", "one"], ["GREETING=hello"]);
        var (result, report) = await RunImage(image, Nonce);
        await Assert.That(result.Stdout).IsEqualTo("one hello\n");
        await Assert.That(result.ExitCode).IsEqualTo(0);
        await Assert.That(report).IsEmpty();
    }

    [Test]
    public async Task A_failed_exec_is_reported_as_step_and_errno_and_a_refusal_is_remembered_past_missing_files()
    {
        var (missing, missingReport) = await RunImage(ExecTrampoline.Image(9, 3, Nonce, ["/nonexistent/a", "/nonexistent/b"], ["a"], []), Nonce);
        await Assert.That(missing.ExitCode).IsEqualTo(1);
        await Assert.That(missingReport).IsEquivalentTo(new byte[] { 3, 0, 0, 0, (byte)Errno.ENOENT, 0, 0, 0 });

        var (refused, refusedReport) = await RunImage(ExecTrampoline.Image(9, 7, Nonce, ["/etc", "/nonexistent/b"], ["a"], []), Nonce);
        await Assert.That(refused.ExitCode).IsEqualTo(1);
        await Assert.That(refusedReport).IsEquivalentTo(new byte[] { 7, 0, 0, 0, (byte)Errno.EACCES, 0, 0, 0 });
    }

    [Test]
    public async Task Without_its_nonce_as_its_only_argument_it_runs_nothing()
    {
        var image = ExecTrampoline.Image(9, 3, Nonce, ["/bin/sh"], ["sh", "-c", "echo ran"], []);
        foreach (var argv0 in new[] { "/proc/self/exe", Nonce + "0", Nonce[..15] })
        {
            var (result, report) = await RunImage(image, argv0);
            await Assert.That(result.Stdout).IsEmpty();
            await Assert.That(result.ExitCode).IsEqualTo(1);
            await Assert.That(report).IsEmpty();
        }
    }
}
