using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Tiny.Runtime.Seccomp;
using Tiny.Runtime.Security;

namespace Tiny.Tests.Unit.Seccomp;

/// <summary>Profiles, capability sets and the libseccomp reference shared by the seccomp tests.</summary>
static class SeccompFixtures
{
    public static string Root { get; } = FindRoot();
    public static string ProfileDirectory => Path.Combine(Root, "seccomp-profiles");
    public static string DefaultProfile => Path.Combine(ProfileDirectory, "docker-default.json");
    public static string SyscallCsv => Path.Combine(Root, "build", "syscalls", "x86-family.csv");
    public static string ReferenceScript => Path.Combine(Root, "build", "seccomp", "libseccomp-reference.py");
    /// <summary>Debian's interpreter: python3-seccomp installs into its dist-packages.</summary>
    public const string Python = "/usr/bin/python3";

    public static readonly KernelVersion Kernel = new(6, 18);

    public static readonly (string Name, CapabilitySet Caps)[] CapabilitySets =
    [
        ("default", CapabilitySet.DockerDefault),
        ("+SYS_ADMIN", CapabilitySet.DockerDefault.With(Capability.SysAdmin)),
        ("+SYS_PTRACE -CHOWN", CapabilitySet.DockerDefault.With(Capability.SysPtrace).Without(Capability.Chown)),
        ("+SYS_TIME +SYS_NICE +SYSLOG +BPF +PERFMON", CapabilitySet.DockerDefault.With(Capability.SysTime)
            .With(Capability.SysNice).With(Capability.Syslog).With(Capability.Bpf).With(Capability.Perfmon)),
        ("all", CapabilitySet.All),
        ("none", new CapabilitySet(0)),
    ];

    public static string[] Fixtures() =>
        Directory.GetFiles(ProfileDirectory, "fixture-*.json").Order(StringComparer.Ordinal).ToArray();

    public static SeccompProfile Load(string path) => SeccompProfile.Load(path);

    public static BpfInstruction[] Compile(string path, CapabilitySet caps, KernelVersion? kernel = null) =>
        SeccompCompiler.Compile(Load(path), caps, SyscallArch.X86_64, kernel ?? Kernel, path)!;

    public static BpfInstruction[] CompileJson(string json, CapabilitySet? caps = null) =>
        SeccompCompiler.Compile(SeccompProfile.Parse(json, "test"), caps ?? CapabilitySet.DockerDefault,
            SyscallArch.X86_64, Kernel, "test")!;

    public static uint Decide(BpfInstruction[] program, SyscallArch arch, uint nr, params ulong[] args) =>
        BpfInterpreter.Run(program, SeccompData.Of(arch, nr, args)).Result;

    public static uint Number(SyscallArch arch, string name) =>
        SyscallTable.TryGetNumber(arch, name, out var nr) ? nr : throw new ArgumentException($"{name} has no number on {arch}");

    public static IReadOnlyList<SeccompData> Inputs(string path) =>
        [.. SeccompInputs.Numbers(), .. SeccompInputs.Arguments(Load(path)), .. SeccompInputs.Extremes()];

    /// <summary>One extra syscall: a number tiny's table has and libseccomp 2.5 does not.</summary>
    public sealed record Extra(uint AuditArch, uint Nr, uint Action, int Args);

    /// <summary>What build/seccomp/libseccomp-reference.py answers for a profile and capability set.</summary>
    public sealed record Reference(BpfInstruction[] Libseccomp, BpfInstruction[] Runc, Extra[] Extras,
        (uint AuditArch, uint Nr)[] Unnumbered, uint DefaultAction, double CompileMs)
    {
        /// <summary>
        /// runc's decision with tiny's deliberate difference, numbers from the CSV: the extras get their rule's
        /// action, and numbers libseccomp gives a name that the CSV does not are left to the default action.
        /// </summary>
        public uint Expected(SeccompData data)
        {
            var runc = BpfInterpreter.Run(Runc, data).Result;
            if (runc == SeccompActions.ErrnoOf(SeccompActions.ENOSYS)) return runc;
            var extra = Extras.FirstOrDefault(e => e.AuditArch == data.Arch && e.Nr == data.Nr);
            if (extra is not null) return extra.Action;
            return Unnumbered.Contains((data.Arch, data.Nr)) ? DefaultAction : runc;
        }
    }

    /// <summary>Null when libseccomp or runc refuse the profile (the error is in <paramref name="error"/>).</summary>
    public static Reference? RunReference(string path, CapabilitySet caps, int optimize, out string? error)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("profile", path);
            json.WriteStartArray("caps");
            foreach (var cap in caps.Members()) json.WriteStringValue(CapabilitySet.NameOf(cap));
            json.WriteEndArray();
            json.WriteString("kernel", Kernel.ToString());
            json.WriteString("csv", SyscallCsv);
            json.WriteNumber("optimize", optimize);
            json.WriteEndObject();
        }
        var request = System.Text.Encoding.UTF8.GetString(buffer.ToArray());
        var start = new ProcessStartInfo(Python, [ReferenceScript])
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        process.StandardInput.Write(request);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEnd();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{ReferenceScript} failed (is python3-seccomp installed?): {stderr}");
        using var answer = JsonDocument.Parse(output);
        var root = answer.RootElement;
        if (root.TryGetProperty("error", out var message))
        {
            error = message.GetString();
            return null;
        }
        error = null;
        static uint Audit(JsonElement e) =>
            e.GetProperty("arch").GetString() == "SCMP_ARCH_X86" ? SyscallArches.AuditI386 : SyscallArches.AuditX86_64;
        var extras = root.GetProperty("extras").EnumerateArray().Select(e => new Extra(
            Audit(e), e.GetProperty("nr").GetUInt32(), e.GetProperty("action").GetUInt32(), e.GetProperty("args").GetInt32())).ToArray();
        var unnumbered = root.GetProperty("unnumbered").EnumerateArray().Select(e => (Audit(e), e.GetProperty("nr").GetUInt32())).ToArray();
        return new(Program(root.GetProperty("libseccomp").GetString()!), Program(root.GetProperty("runc").GetString()!),
            extras, unnumbered, root.GetProperty("default").GetUInt32(), root.GetProperty("compile_ms").GetDouble());
    }

    static BpfInstruction[] Program(string hex) => BpfInstruction.FromBytes(Convert.FromHexString(hex));

    static string FindRoot([CallerFilePath] string source = "")
    {
        var directory = Path.GetDirectoryName(source);
        while (directory is not null && !File.Exists(Path.Combine(directory, "Tiny.sln"))) directory = Path.GetDirectoryName(directory);
        return directory ?? throw new InvalidOperationException("Tiny.sln not found above " + source);
    }
}
