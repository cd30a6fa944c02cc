using Tiny.Runtime;
using Tiny.Runtime.Seccomp;
using Tiny.Runtime.Security;
using static Tiny.Tests.Unit.Seccomp.SeccompFixtures;

namespace Tiny.Tests.Unit.Seccomp;

/// <summary>Selection, the arch and number rules, runc's ENOSYS stub and argument checks, one behaviour at a time.</summary>
public class SeccompCompilerTests
{
    static readonly uint Allow = SeccompActions.Allow;
    static readonly uint Eperm = SeccompActions.ErrnoOf(SeccompActions.EPERM);
    static readonly uint Enosys = SeccompActions.ErrnoOf(SeccompActions.ENOSYS);
    static readonly BpfInstruction[] Default = Compile(DefaultProfile, CapabilitySet.DockerDefault);

    [Test]
    public async Task Default_profile_program_is_valid_for_the_kernel()
    {
        await Assert.That(BpfInterpreter.Validate(Default)).IsNull();
        await Assert.That(Default.Length).IsLessThan(BpfInstruction.MaxProgramLength);
    }

    [Test]
    public async Task Common_syscalls_are_allowed_on_every_abi()
    {
        foreach (var arch in SyscallArches.All)
            foreach (var name in new[] { "read", "write", "openat", "execve", "exit_group", "futex" })
                await Assert.That(Decide(Default, arch, Number(arch, name))).IsEqualTo(Allow).Because($"{name} on {arch}");
    }

    [Test]
    public async Task Privileged_syscalls_get_eperm_with_default_caps()
    {
        foreach (var name in new[] { "mount", "unshare", "keyctl", "add_key", "bpf", "reboot", "kexec_load" })
            await Assert.That(Decide(Default, SyscallArch.X86_64, Number(SyscallArch.X86_64, name))).IsEqualTo(Eperm).Because(name);
    }

    [Test]
    public async Task Clone3_gets_enosys_without_sys_admin_and_is_allowed_with_it()
    {
        var clone3 = Number(SyscallArch.X86_64, "clone3");
        await Assert.That(Decide(Default, SyscallArch.X86_64, clone3)).IsEqualTo(Enosys);
        var admin = Compile(DefaultProfile, CapabilitySet.DockerDefault.With(Capability.SysAdmin));
        await Assert.That(Decide(admin, SyscallArch.X86_64, clone3)).IsEqualTo(Allow);
        await Assert.That(Decide(admin, SyscallArch.X86_64, Number(SyscallArch.X86_64, "mount"))).IsEqualTo(Allow);
    }

    [Test]
    public async Task Numbers_above_the_profiles_last_syscall_get_enosys_per_abi()
    {
        // removexattrat (466) is the highest number the default profile names on x86_64 and i386; x32 stops at 547.
        await Assert.That(Decide(Default, SyscallArch.X86_64, 466)).IsEqualTo(Allow);
        await Assert.That(Decide(Default, SyscallArch.X86_64, 467)).IsEqualTo(Enosys);
        await Assert.That(Decide(Default, SyscallArch.X86_64, 468)).IsEqualTo(Enosys);
        await Assert.That(Decide(Default, SyscallArch.I386, 467)).IsEqualTo(Enosys);
        await Assert.That(Decide(Default, SyscallArch.X32, SyscallArches.X32Bit | 547)).IsEqualTo(Allow);
        await Assert.That(Decide(Default, SyscallArch.X32, SyscallArches.X32Bit | 548)).IsEqualTo(Enosys);
        await Assert.That(Decide(Default, SyscallArch.X32, 0xFFFF_FFFF)).IsEqualTo(Enosys);
        await Assert.That(Decide(Default, SyscallArch.X86_64, 0x8000_0000)).IsEqualTo(Enosys);
        // A gap below the last number is the default action, not ENOSYS.
        await Assert.That(Decide(Default, SyscallArch.X86_64, Number(SyscallArch.X86_64, "kexec_file_load"))).IsEqualTo(Eperm);
    }

    [Test]
    public async Task No_enosys_stub_when_the_default_action_allows()
    {
        var program = CompileJson("""{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"names":["mount"],"action":"SCMP_ACT_ERRNO"}]}""");
        await Assert.That(Decide(program, SyscallArch.X86_64, 468)).IsEqualTo(Allow);
        await Assert.That(Decide(program, SyscallArch.X86_64, Number(SyscallArch.X86_64, "mount"))).IsEqualTo(Eperm);
    }

    [Test]
    public async Task Extra_syscalls_libseccomp_lacks_get_their_rules_action()
    {
        foreach (var name in new[] { "mseal", "statmount", "listmount", "getxattrat", "removexattrat" })
            await Assert.That(Decide(Default, SyscallArch.X86_64, Number(SyscallArch.X86_64, name))).IsEqualTo(Allow).Because(name);
        await Assert.That(Decide(Default, SyscallArch.X86_64, Number(SyscallArch.X86_64, "uretprobe"))).IsEqualTo(Allow);
    }

    [Test]
    public async Task Unknown_arch_and_missing_x32_get_kill_thread()
    {
        await Assert.That(BpfInterpreter.Run(Default, new SeccompData(0, 0xC00000B7, [])).Result).IsEqualTo(SeccompActions.KillThread);
        var only64 = CompileJson("""{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}""");
        await Assert.That(Decide(only64, SyscallArch.X86_64, 0)).IsEqualTo(Allow);
        await Assert.That(Decide(only64, SyscallArch.X32, SyscallArches.X32Bit)).IsEqualTo(SeccompActions.KillThread);
        await Assert.That(Decide(only64, SyscallArch.I386, 3)).IsEqualTo(SeccompActions.KillThread);
        // libseccomp lets nr -1 (a tracer's skipped call) through to the default action.
        await Assert.That(Decide(only64, SyscallArch.X86_64, 0xFFFF_FFFF)).IsEqualTo(Eperm);
    }

    [Test]
    public async Task Arguments_compare_both_words_on_x86_64_and_the_low_word_on_i386_and_x32()
    {
        var personality = Number(SyscallArch.X86_64, "personality");
        await Assert.That(Decide(Default, SyscallArch.X86_64, personality, 0xFFFF_FFFF)).IsEqualTo(Allow);
        await Assert.That(Decide(Default, SyscallArch.X86_64, personality, 0xFFFF)).IsEqualTo(Eperm);
        await Assert.That(Decide(Default, SyscallArch.X86_64, personality, 0x1_0000_0008)).IsEqualTo(Eperm);
        var personality32 = Number(SyscallArch.I386, "personality");
        await Assert.That(Decide(Default, SyscallArch.I386, personality32, 0x1_0000_0008)).IsEqualTo(Allow);
        await Assert.That(Decide(Default, SyscallArch.X32, Number(SyscallArch.X32, "personality"), 0xFFFF_FFFF_0000_0000)).IsEqualTo(Allow);
        await Assert.That(Decide(Default, SyscallArch.I386, personality32, 0xFFFF)).IsEqualTo(Eperm);
    }

    [Test]
    public async Task Socket_families_and_clone_flags_follow_their_rules()
    {
        var socket = Number(SyscallArch.X86_64, "socket");
        await Assert.That(Decide(Default, SyscallArch.X86_64, socket, 2)).IsEqualTo(Allow);
        await Assert.That(Decide(Default, SyscallArch.X86_64, socket, 38)).IsEqualTo(Eperm);
        await Assert.That(Decide(Default, SyscallArch.X86_64, socket, 39)).IsEqualTo(Allow);
        await Assert.That(Decide(Default, SyscallArch.X86_64, socket, 40)).IsEqualTo(Eperm);
        await Assert.That(Decide(Default, SyscallArch.X86_64, socket, 0x1_0000_0026)).IsEqualTo(Allow);
        var clone = Number(SyscallArch.X86_64, "clone");
        await Assert.That(Decide(Default, SyscallArch.X86_64, clone, 0x11)).IsEqualTo(Allow);
        await Assert.That(Decide(Default, SyscallArch.X86_64, clone, 0x10000000)).IsEqualTo(Eperm); // CLONE_NEWUSER
    }

    [Test]
    public async Task Socket_rules_also_apply_to_socketcall_on_i386()
    {
        var program = CompileJson("""
            {"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
             "syscalls":[{"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":2,"op":"SCMP_CMP_EQ"},{"index":1,"value":1,"op":"SCMP_CMP_EQ"}]},
                         {"names":["semget"],"action":"SCMP_ACT_ALLOW"}]}
            """);
        var socketcall = Number(SyscallArch.I386, "socketcall");
        // socketcall(SYS_SOCKET = 1, args): the a0 condition becomes the call number, the a1 condition stays.
        await Assert.That(Decide(program, SyscallArch.I386, socketcall, 1, 1)).IsEqualTo(Allow);
        await Assert.That(Decide(program, SyscallArch.I386, socketcall, 1, 7)).IsEqualTo(Eperm);
        await Assert.That(Decide(program, SyscallArch.I386, socketcall, 2, 1)).IsEqualTo(Eperm);
        await Assert.That(Decide(program, SyscallArch.I386, Number(SyscallArch.I386, "socket"), 2, 1)).IsEqualTo(Allow);
        await Assert.That(Decide(program, SyscallArch.I386, Number(SyscallArch.I386, "socket"), 3, 1)).IsEqualTo(Eperm);
        var ipc = Number(SyscallArch.I386, "ipc");
        await Assert.That(Decide(program, SyscallArch.I386, ipc, 2)).IsEqualTo(Allow); // SEMGET
        await Assert.That(Decide(program, SyscallArch.I386, ipc, 1)).IsEqualTo(Eperm); // SEMOP
    }

    [Test]
    public async Task Conditions_on_distinct_arguments_are_anded_and_a_repeated_index_is_ored()
    {
        var anded = CompileJson("""{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["kill"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":1,"value":9,"op":"SCMP_CMP_EQ"}]}]}""");
        var kill = Number(SyscallArch.X86_64, "kill");
        await Assert.That(Decide(anded, SyscallArch.X86_64, kill, 1, 9)).IsEqualTo(Allow);
        await Assert.That(Decide(anded, SyscallArch.X86_64, kill, 1, 15)).IsEqualTo(Eperm);
        var ored = CompileJson("""{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["kill"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":0,"value":2,"op":"SCMP_CMP_EQ"}]}]}""");
        await Assert.That(Decide(ored, SyscallArch.X86_64, kill, 1)).IsEqualTo(Allow);
        await Assert.That(Decide(ored, SyscallArch.X86_64, kill, 2)).IsEqualTo(Allow);
        await Assert.That(Decide(ored, SyscallArch.X86_64, kill, 3)).IsEqualTo(Eperm);
    }

    [Test]
    public async Task Every_operator_matches_its_definition_on_boundaries()
    {
        string[] ops = ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"];
        ulong[] values = [0, 5, 0xFFFF_FFFF, 0x1_0000_0005, 0x8000_0000_0000_0000, ulong.MaxValue];
        foreach (var op in ops)
            foreach (var value in values)
            {
                var program = CompileJson($$"""{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"],"syscalls":[{"names":["kill"],"action":"SCMP_ACT_ALLOW","args":[{"index":2,"value":{{value}},"valueTwo":5,"op":"{{op}}"}]}]}""");
                var condition = new ArgCondition(2, ArgCondition.ParseOp(op, "test"), value, 5);
                foreach (var arch in SyscallArches.All)
                    foreach (var probe in values.SelectMany(v => new[] { v, v - 1, v + 1, v ^ 0x1_0000_0000 }))
                    {
                        var expected = condition.Matches(probe, arch.Is32Bit()) ? Allow : Eperm;
                        await Assert.That(Decide(program, arch, Number(arch, "kill"), 0, 0, probe))
                            .IsEqualTo(expected).Because($"{op} {value:x} on {arch} with a2 = {probe:x}");
                    }
            }
    }

    [Test]
    public async Task Capability_groups_follow_includes_and_excludes()
    {
        var profile = Path.Combine(ProfileDirectory, "fixture-conditional_include.json");
        var syslog = Number(SyscallArch.X86_64, "syslog");
        var ptrace = Number(SyscallArch.X86_64, "ptrace");
        var plain = Compile(profile, CapabilitySet.DockerDefault);
        await Assert.That(Decide(plain, SyscallArch.X86_64, syslog)).IsEqualTo(Eperm);
        await Assert.That(Decide(plain, SyscallArch.X86_64, ptrace)).IsEqualTo(Allow);
        var privileged = Compile(profile, CapabilitySet.DockerDefault.With(Capability.Syslog).With(Capability.SysAdmin));
        await Assert.That(Decide(privileged, SyscallArch.X86_64, syslog)).IsEqualTo(Allow);
        await Assert.That(Decide(privileged, SyscallArch.X86_64, ptrace)).IsEqualTo(Eperm);
    }

    [Test]
    public async Task MinKernel_groups_follow_the_running_kernel()
    {
        var ptrace = Number(SyscallArch.X86_64, "ptrace");
        await Assert.That(Decide(Default, SyscallArch.X86_64, ptrace)).IsEqualTo(Allow);
        var old = Compile(DefaultProfile, CapabilitySet.DockerDefault, new KernelVersion(4, 4));
        await Assert.That(Decide(old, SyscallArch.X86_64, ptrace)).IsEqualTo(Eperm);
    }

    [Test]
    public async Task Old_name_format_and_errno_ret_are_read()
    {
        var program = Compile(Path.Combine(ProfileDirectory, "fixture-default-old-format.json"), CapabilitySet.DockerDefault);
        await Assert.That(Decide(program, SyscallArch.X86_64, Number(SyscallArch.X86_64, "read"))).IsEqualTo(Allow);
        var errno = CompileJson("""{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":13,"syscalls":[{"names":["kill"],"action":"SCMP_ACT_ERRNO","errnoRet":22},{"names":["read"],"action":"SCMP_ACT_TRACE"}]}""");
        await Assert.That(Decide(errno, SyscallArch.X86_64, 0)).IsEqualTo(SeccompActions.Trace | 1);
        await Assert.That(Decide(errno, SyscallArch.X86_64, Number(SyscallArch.X86_64, "kill"))).IsEqualTo(SeccompActions.ErrnoOf(22));
        await Assert.That(Decide(errno, SyscallArch.X86_64, 1)).IsEqualTo(SeccompActions.ErrnoOf(13));
    }

    [Test]
    [Arguments("""{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["kill"],"action":"SCMP_ACT_EXPLODE"}]}""", "syscalls[0] (kill): unknown action")]
    [Arguments("""{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["kill"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_ABOUT"}]}]}""", "syscalls[0] (kill): unknown operator")]
    [Arguments("""{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["kill"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}""", "syscalls[0] (kill): argument index 6")]
    [Arguments("""{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["kill"],"action":"SCMP_ACT_ERRNO","errnoRet":4095}]}""", "syscalls[0] (kill): errnoRet 4095")]
    [Arguments("""{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"name":"read","names":["kill"],"action":"SCMP_ACT_ALLOW"}]}""", "both 'name' and 'names'")]
    [Arguments("""{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}""", "both 'architectures' and 'archMap'")]
    [Arguments("""{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["kill"],"action":"SCMP_ACT_NOTIFY"}]}""", "not supported")]
    [Arguments("""{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_VAX"]}""", "unknown architecture")]
    [Arguments("""{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["kill"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"five"}}]}""", "minKernel")]
    [Arguments("""{"defaultAction": """, "seccomp profile test")]
    public async Task Bad_profiles_give_one_line_naming_the_rule(string json, string expected)
    {
        var error = await Assert.That(() => CompileJson(json)).Throws<ContainerError>();
        await Assert.That(error!.Message).Contains(expected);
        await Assert.That(error.Message).DoesNotContain("\n");
    }

    [Test]
    public async Task Rules_with_the_default_action_and_unknown_names_are_dropped()
    {
        var program = CompileJson("""{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["kill","no_such_call","chown32"],"action":"SCMP_ACT_ALLOW"},{"names":["read"],"action":"SCMP_ACT_ERRNO"}]}""");
        await Assert.That(Decide(program, SyscallArch.X86_64, Number(SyscallArch.X86_64, "kill"))).IsEqualTo(Allow);
        await Assert.That(Decide(program, SyscallArch.X86_64, 0)).IsEqualTo(Eperm);
    }

    [Test]
    public async Task Plan_and_program_agree_on_every_input()
    {
        foreach (var (_, caps) in CapabilitySets)
        {
            var rules = ProfileSelection.Select(Load(DefaultProfile), caps, SyscallArch.X86_64, Kernel, "default")!;
            var plan = FilterPlan.Build(rules);
            var program = BpfCompiler.Compile(plan);
            foreach (var input in Inputs(DefaultProfile))
                if (plan.Decide(input) != BpfInterpreter.Run(program, input).Result)
                    Assert.Fail($"plan and program differ at arch 0x{input.Arch:x} nr 0x{input.Nr:x}");
        }
    }

    [Test]
    public async Task Build_time_program_is_the_run_time_compilers_output()
    {
        var runtime = BpfInstruction.ToBytes(SeccompCompiler.Compile(BuiltinProfile.Load(), CapabilitySet.DockerDefault,
            SyscallArch.X86_64, KernelVersion.Newest, BuiltinProfile.Source)!);
        await Assert.That(Convert.ToHexString(BuiltinProfile.PrecompiledProgram())).IsEqualTo(Convert.ToHexString(runtime));
        await Assert.That(BuiltinProfile.PrecompiledFits(CapabilitySet.DockerDefault, SyscallArch.X86_64, Kernel)).IsTrue();
        await Assert.That(BuiltinProfile.PrecompiledFits(CapabilitySet.DockerDefault, SyscallArch.X86_64, new(4, 4))).IsFalse();
        await Assert.That(BuiltinProfile.PrecompiledFits(CapabilitySet.All, SyscallArch.X86_64, Kernel)).IsFalse();
    }

    [Test]
    public async Task Policy_seam_gives_bytes_for_profiles_and_null_for_unconfined()
    {
        await Assert.That(SeccompPolicy.ProgramFor(SeccompPolicy.Unconfined, CapabilitySet.DockerDefault)).IsNull();
        var builtin = SeccompPolicy.ProgramFor(null, CapabilitySet.DockerDefault)!;
        await Assert.That(builtin.Length % BpfInstruction.Size).IsEqualTo(0);
        await Assert.That(BpfInterpreter.Validate(BpfInstruction.FromBytes(builtin))).IsNull();
        var admin = BpfInstruction.FromBytes(SeccompPolicy.ProgramFor(null, CapabilitySet.DockerDefault.With(Capability.SysAdmin))!);
        await Assert.That(Decide(admin, SyscallArch.X86_64, Number(SyscallArch.X86_64, "mount"))).IsEqualTo(Allow);
        var file = BpfInstruction.FromBytes(SeccompPolicy.ProgramFor(Path.Combine(ProfileDirectory, "fixture-conditional_include.json"), CapabilitySet.DockerDefault)!);
        await Assert.That(Decide(file, SyscallArch.X86_64, Number(SyscallArch.X86_64, "chmod"))).IsEqualTo(Allow);
        var missing = await Assert.That(() => SeccompPolicy.ProgramFor("/nonexistent/profile.json", CapabilitySet.DockerDefault)).Throws<ContainerError>();
        await Assert.That(missing!.Message).Contains("/nonexistent/profile.json");
    }

    [Test]
    public async Task Oci_seccomp_object_compiles_with_its_flags()
    {
        var oci = new LinuxSeccomp
        {
            DefaultAction = "SCMP_ACT_ERRNO", Architectures = ["SCMP_ARCH_X86_64"], Flags = ["SECCOMP_FILTER_FLAG_LOG"],
            Syscalls = [new LinuxSyscall { Names = ["read", "write", "close"], Action = "SCMP_ACT_ALLOW" }],
        };
        var filter = SeccompPolicy.ForOci(oci);
        await Assert.That(filter.Flags).IsEqualTo(SeccompFilterFlags.Log);
        var program = BpfInstruction.FromBytes(filter.Program);
        await Assert.That(Decide(program, SyscallArch.X86_64, 1)).IsEqualTo(Allow);
        await Assert.That(Decide(program, SyscallArch.X86_64, 2)).IsEqualTo(Eperm);
        await Assert.That(Decide(program, SyscallArch.X86_64, 4)).IsEqualTo(Enosys);
        await Assert.That(() => SeccompPolicy.ForOci(new LinuxSeccomp { DefaultAction = "SCMP_ACT_ERRNO", ListenerPath = "/run/agent.sock" }))
            .Throws<ContainerError>();
    }
}
