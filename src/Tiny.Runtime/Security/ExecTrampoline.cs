using System.Buffers.Binary;
using System.Text;
using Tiny.Interop;
using Tiny.Runtime.Spec;

namespace Tiny.Runtime.Security;

/// <summary>
/// CVE-2019-5736 without starting tiny twice. A container's init is a clone of tiny, so until it execs, its
/// /proc/self/exe is tiny's binary, and the kernel resolves a script's interpreter (binfmt_script) in the process
/// that execs it: a command that is a script starting "#!/proc/self/exe" would run tiny's binary in the container,
/// where any process could open its /proc/PID/exe and, once it exits, reopen that fd for writing.
/// <para>So the init does not exec its command itself. It execs this trampoline, a static program of a few hundred
/// bytes in a sealed memory file (memfd_create(2)), which execs the command: /proc/self/exe is then that memory
/// file, never tiny's binary. The trampoline runs only with its one argument, a nonce made for this container;
/// run as the interpreter of a script (argv[0] is then the interpreter's path) it exits with status 1.</para>
/// <para>Until that exec the init is not dumpable, so no other process of the container (one `tiny exec` started
/// before `start`, say) may open its /proc/PID/exe either (ptrace(2), "Ptrace access mode checking") unless it holds
/// CAP_SYS_PTRACE; a container whose bounding set has it, one that shares another's PID namespace, and tiny run
/// --init, whose PID 1 stays tiny's code, still re-execute tiny from a read-only mount (<see cref="ReadOnlyBinary"/>).</para>
/// </summary>
public sealed class ExecTrampoline : IDisposable
{
    /// <summary>The trampoline's code (x86-64), position-independent; its parameter block follows it, 8-aligned:
    /// report fd (8 bytes), step index (8), argv (8), envp (8), nonce (16), candidate paths (pointers, NULL-ended).
    /// <code>
    ///   lea r12, [rip + params]
    ///   cmp qword [rsp], 1 ; argv[0] == nonce (16 bytes and a NUL), else exit(1)
    ///   fcntl(report fd, F_SETFD, FD_CLOEXEC)
    ///   for each candidate: execve(candidate, argv, envp); EACCES is remembered,
    ///       ENOENT and ENOTDIR move on (execvp(3)), any other errno ends the search
    ///   write(report fd, {step, errno}, 8); exit_group(1)
    /// </code>
    /// Assembled with GNU as from that listing (intel syntax); the exit status and report are the child's
    /// (<see cref="Launch.ChildProcess"/>).</summary>
    static ReadOnlySpan<byte> Code =>
    [
        0x4c, 0x8d, 0x25, 0xc1, 0x00, 0x00, 0x00, // lea r12, [rip+0xc1]        ; params
        0x48, 0x8b, 0x04, 0x24,                   // mov rax, [rsp]             ; argc
        0x48, 0x83, 0xf8, 0x01,                   // cmp rax, 1
        0x0f, 0x85, 0xa3, 0x00, 0x00, 0x00,       // jne refuse
        0x48, 0x8b, 0x74, 0x24, 0x08,             // mov rsi, [rsp+8]           ; argv[0]
        0x48, 0x8b, 0x06,                         // mov rax, [rsi]
        0x49, 0x3b, 0x44, 0x24, 0x20,             // cmp rax, [r12+0x20]        ; nonce, first half
        0x0f, 0x85, 0x90, 0x00, 0x00, 0x00,       // jne refuse
        0x48, 0x8b, 0x46, 0x08,                   // mov rax, [rsi+8]
        0x49, 0x3b, 0x44, 0x24, 0x28,             // cmp rax, [r12+0x28]        ; nonce, second half
        0x0f, 0x85, 0x81, 0x00, 0x00, 0x00,       // jne refuse
        0x80, 0x7e, 0x10, 0x00,                   // cmp byte [rsi+0x10], 0
        0x75, 0x7b,                               // jne refuse
        0x49, 0x8b, 0x3c, 0x24,                   // mov rdi, [r12]             ; report fd
        0xbe, 0x02, 0x00, 0x00, 0x00,             // mov esi, 2                 ; F_SETFD
        0xba, 0x01, 0x00, 0x00, 0x00,             // mov edx, 1                 ; FD_CLOEXEC
        0xb8, 0x48, 0x00, 0x00, 0x00,             // mov eax, 72                ; fcntl
        0x0f, 0x05,                               // syscall
        0x49, 0x8d, 0x5c, 0x24, 0x30,             // lea rbx, [r12+0x30]        ; candidates
        0x41, 0xbd, 0x02, 0x00, 0x00, 0x00,       // mov r13d, 2                ; ENOENT
        0x48, 0x8b, 0x3b,                         // next: mov rdi, [rbx]
        0x48, 0x85, 0xff,                         // test rdi, rdi
        0x74, 0x30,                               // je report
        0x49, 0x8b, 0x74, 0x24, 0x10,             // mov rsi, [r12+0x10]        ; argv
        0x49, 0x8b, 0x54, 0x24, 0x18,             // mov rdx, [r12+0x18]        ; envp
        0xb8, 0x3b, 0x00, 0x00, 0x00,             // mov eax, 59                ; execve
        0x0f, 0x05,                               // syscall
        0xf7, 0xd8,                               // neg eax
        0x83, 0xf8, 0x0d,                         // cmp eax, 13                ; EACCES
        0x74, 0x0f,                               // je remember
        0x83, 0xf8, 0x02,                         // cmp eax, 2                 ; ENOENT
        0x74, 0x0d,                               // je skip
        0x83, 0xf8, 0x14,                         // cmp eax, 20                ; ENOTDIR
        0x74, 0x08,                               // je skip
        0x41, 0x89, 0xc5,                         // mov r13d, eax
        0xeb, 0x09,                               // jmp report
        0x41, 0x89, 0xc5,                         // remember: mov r13d, eax
        0x48, 0x83, 0xc3, 0x08,                   // skip: add rbx, 8
        0xeb, 0xc8,                               // jmp next
        0x41, 0x8b, 0x44, 0x24, 0x08,             // report: mov eax, [r12+8]   ; step
        0x89, 0x44, 0x24, 0xf8,                   // mov [rsp-8], eax
        0x44, 0x89, 0x6c, 0x24, 0xfc,             // mov [rsp-4], r13d          ; errno
        0x49, 0x8b, 0x3c, 0x24,                   // mov rdi, [r12]
        0x48, 0x8d, 0x74, 0x24, 0xf8,             // lea rsi, [rsp-8]
        0xba, 0x08, 0x00, 0x00, 0x00,             // mov edx, 8
        0xb8, 0x01, 0x00, 0x00, 0x00,             // mov eax, 1                 ; write
        0x0f, 0x05,                               // syscall
        0xbf, 0x01, 0x00, 0x00, 0x00,             // refuse: mov edi, 1
        0xb8, 0xe7, 0x00, 0x00, 0x00,             // mov eax, 231               ; exit_group
        0x0f, 0x05,                               // syscall
        0x0f, 0x1f, 0x40, 0x00,                   // nop (pads the parameters to 8 bytes)
    ];

    /// <summary>Where the program is loaded (ET_EXEC: one PT_LOAD of the whole file at this address).</summary>
    internal const ulong LoadAddress = 0x400000;
    internal const int ElfHeaderSize = 64, ProgramHeaderSize = 56, HeadersSize = ElfHeaderSize + 2 * ProgramHeaderSize;
    internal const int NonceLength = 16;

    /// <summary>The memory file (close-on-exec); the child execs it with execveat(2) and AT_EMPTY_PATH.</summary>
    public int Fd { get; }

    /// <summary>The trampoline's only argument: 16 hex digits, random for each container.</summary>
    public string Nonce { get; }

    ExecTrampoline(int fd, string nonce)
    {
        Fd = fd;
        Nonce = nonce;
    }

    /// <summary>Whether the trampoline keeps tiny's binary out of <paramref name="spec"/>'s reach (see the class), so
    /// that tiny need not run from a read-only mount for it; false too where this kernel refuses to exec memory files.</summary>
    public static bool Covers(RunSpec spec) =>
        !spec.Init
        && (spec.Namespaces?.Any(ns => ns.Type == Namespace.CLONE_NEWPID && ns.Path is null) ?? true)
        && !(spec.CapabilitySets?.Bounding ?? spec.Capabilities).Contains(Capability.SysPtrace)
        && ExecKeepsCapabilities(spec)
        && MemoryFileExec.Allowed;

    /// <summary>
    /// Whether the extra exec leaves the command's capabilities as one exec would (capabilities(7), "Transformation of
    /// capabilities during execve()"). UID 0 gets its inheritable and bounding sets from any exec, the trampoline's
    /// too. Another user keeps only its ambient set through the trampoline; with no_new_privs the command's file
    /// capabilities are then capped by that set instead of the permitted one (cap_bprm_creds_from_file), which took
    /// binding to low ports from non-root services under runc-dmz (runc issue 4125).
    /// </summary>
    static bool ExecKeepsCapabilities(RunSpec spec)
    {
        var permitted = (spec.CapabilitySets?.Permitted ?? spec.Capabilities).Mask;
        var ambient = spec.CapabilitySets?.Ambient.Mask ?? 0;
        return spec.Uid == 0 || !spec.NoNewPrivileges || (permitted & ~ambient) == 0;
    }

    /// <summary>vm.memfd_noexec 2 forbids exec of any memory file (kernel 6.3 and later; none before). Read once per
    /// process: tiny asks before it would re-execute and again as it launches.</summary>
    static class MemoryFileExec
    {
        public static readonly bool Allowed = Read();

        static bool Read()
        {
            try
            {
                return FileDescriptor.ReadAllText("/proc/sys/vm/memfd_noexec").Trim() != "2";
            }
            catch (SyscallException e) when (e.Errno == Errno.ENOENT)
            {
                return true;
            }
        }
    }

    /// <summary>An empty, unsealed memory file for the trampoline, and its nonce; <see cref="Seal"/> fills it.</summary>
    public static ExecTrampoline Open()
    {
        const uint flags = MemoryFile.MFD_CLOEXEC | MemoryFile.MFD_ALLOW_SEALING;
        int fd;
        try
        {
            fd = MemoryFile.Create("tiny-exec", flags | MemoryFile.MFD_EXEC);
        }
        catch (SyscallException e) when (e.Errno == Errno.EINVAL)
        {
            fd = MemoryFile.Create("tiny-exec", flags); // before 6.3, memory files are executable and MFD_EXEC unknown
        }
        // Guid.NewGuid reads the kernel's random bytes (System.Security.Cryptography would load OpenSSL, which a static
        // binary cannot); 16 of its hex digits hold 60 random bits.
        return new ExecTrampoline(fd, Guid.NewGuid().ToString("N")[..NonceLength]);
    }

    /// <summary>Writes the program that reports a failed exec as step <paramref name="step"/> on
    /// <paramref name="reportFd"/>, and seals the file against any change.</summary>
    public void Seal(int reportFd, int step, IReadOnlyList<string> candidates, IReadOnlyList<string> argv, IReadOnlyList<string> envp)
    {
        FileDescriptor.WriteAll(Fd, Image(reportFd, step, Nonce, candidates, argv, envp));
        MemoryFile.AddSeals(Fd, MemoryFile.F_SEAL_SEAL | MemoryFile.F_SEAL_SHRINK | MemoryFile.F_SEAL_GROW | MemoryFile.F_SEAL_WRITE);
    }

    public void Dispose() => FileDescriptor.Close(Fd);

    /// <summary>The ELF file: headers, <see cref="Code"/>, the parameter block, the three pointer arrays, then the strings.</summary>
    internal static byte[] Image(int reportFd, int step, string nonce, IReadOnlyList<string> candidates, IReadOnlyList<string> argv,
        IReadOnlyList<string> envp)
    {
        if (nonce.Length != NonceLength) throw new ArgumentException($"a nonce is {NonceLength} characters", nameof(nonce));
        var parameters = HeadersSize + Code.Length;
        var candidatesArray = parameters + 48;
        var argvArray = candidatesArray + 8 * (candidates.Count + 1);
        var envpArray = argvArray + 8 * (argv.Count + 1);
        var strings = envpArray + 8 * (envp.Count + 1);
        // Loops, not LINQ: the generic instantiations' first calls cost more than the rest at each launch.
        var length = strings;
        foreach (var list in new[] { candidates, argv, envp })
            for (var i = 0; i < list.Count; i++) length += Encoding.UTF8.GetByteCount(list[i]) + 1;
        var image = new byte[length];
        var span = image.AsSpan();

        span[0] = 0x7f; // ELFMAG: 0x7f 'E' 'L' 'F'
        "ELF"u8.CopyTo(span[1..]);
        span[4] = 2; // ELFCLASS64
        span[5] = 1; // ELFDATA2LSB
        span[6] = 1; // EV_CURRENT
        BinaryPrimitives.WriteUInt16LittleEndian(span[16..], 2); // ET_EXEC
        BinaryPrimitives.WriteUInt16LittleEndian(span[18..], 62); // EM_X86_64
        BinaryPrimitives.WriteUInt32LittleEndian(span[20..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(span[24..], LoadAddress + HeadersSize); // e_entry
        BinaryPrimitives.WriteUInt64LittleEndian(span[32..], ElfHeaderSize); // e_phoff
        BinaryPrimitives.WriteUInt16LittleEndian(span[52..], ElfHeaderSize);
        BinaryPrimitives.WriteUInt16LittleEndian(span[54..], ProgramHeaderSize);
        BinaryPrimitives.WriteUInt16LittleEndian(span[56..], 2); // e_phnum
        WriteProgramHeader(span[ElfHeaderSize..], type: 1 /* PT_LOAD */, flags: 5 /* R+X */, (ulong)image.Length, align: 0x1000);
        WriteProgramHeader(span[(ElfHeaderSize + ProgramHeaderSize)..], type: 0x6474e551 /* PT_GNU_STACK */, flags: 6 /* R+W */, 0, align: 16);
        Code.CopyTo(span[HeadersSize..]);

        BinaryPrimitives.WriteInt64LittleEndian(span[parameters..], reportFd);
        BinaryPrimitives.WriteInt64LittleEndian(span[(parameters + 8)..], step);
        BinaryPrimitives.WriteUInt64LittleEndian(span[(parameters + 16)..], LoadAddress + (ulong)argvArray);
        BinaryPrimitives.WriteUInt64LittleEndian(span[(parameters + 24)..], LoadAddress + (ulong)envpArray);
        Encoding.ASCII.GetBytes(nonce, span[(parameters + 32)..]);

        var next = strings;
        foreach (var (list, array) in new[] { (candidates, candidatesArray), (argv, argvArray), (envp, envpArray) })
        {
            // Each array ends in a NULL pointer, already zero.
            for (var i = 0; i < list.Count; i++)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(span[(array + 8 * i)..], LoadAddress + (ulong)next);
                next += Encoding.UTF8.GetBytes(list[i], span[next..]) + 1;
            }
        }
        return image;
    }

    static void WriteProgramHeader(Span<byte> header, uint type, uint flags, ulong size, ulong align)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(header, type);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], flags);
        BinaryPrimitives.WriteUInt64LittleEndian(header[16..], size == 0 ? 0 : LoadAddress); // p_vaddr
        BinaryPrimitives.WriteUInt64LittleEndian(header[24..], size == 0 ? 0 : LoadAddress); // p_paddr
        BinaryPrimitives.WriteUInt64LittleEndian(header[32..], size); // p_filesz
        BinaryPrimitives.WriteUInt64LittleEndian(header[40..], size); // p_memsz
        BinaryPrimitives.WriteUInt64LittleEndian(header[48..], align);
    }
}
