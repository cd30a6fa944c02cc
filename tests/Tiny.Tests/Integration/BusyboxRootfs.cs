namespace Tiny.Tests.Integration;

/// <summary>A root file system made of a static /bin/busybox and its applet links, built once per test run.</summary>
public static class BusyboxRootfs
{
    const string Busybox = "/bin/busybox";
    static readonly Lazy<string> Built = new(Build);

    public static bool Available => File.Exists(Busybox) && !HasInterpreter(Busybox);

    public static string Path => Built.Value;

    /// <summary>A shell command that writes the rootfs as a tar archive to stdout, without what other tests running
    /// meanwhile put in its /tmp. Tests also add and remove entries at its top (a write probe, mount points): tar's
    /// warnings of a file changed or gone as it read it are off, and its exit status for them, 1, counts as success
    /// (cp -a fails on them).</summary>
    public static string ArchiveCommand =>
        $"{{ tar -C {Path} --exclude='./tmp/*' --warning=no-file-changed --warning=no-file-removed -cf - .; [ $? -le 1 ]; }}";

    /// <summary>A shell command that copies the rootfs (<see cref="ArchiveCommand"/>) into <paramref name="target"/> (a
    /// shell word), owners and modes kept.</summary>
    public static string CopyCommand(string target) => $"{ArchiveCommand} | tar -C {target} -xpf -";

    static string Build()
    {
        var root = Directory.CreateTempSubdirectory("tiny-busybox-").FullName;
        // A root as images have it (0755), so that users other than root can reach its files.
        File.SetUnixFileMode(root, (UnixFileMode)0x1ed);
        foreach (var dir in new[] { "bin", "etc", "tmp", "proc", "sys", "dev", "root" })
            Directory.CreateDirectory(System.IO.Path.Combine(root, dir));
        File.Copy(Busybox, System.IO.Path.Combine(root, "bin", "busybox"));
        var applets = Tiny.Exec(Busybox, ["--list"]).GetAwaiter().GetResult().Stdout;
        foreach (var applet in applets.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            if (applet != "busybox") File.CreateSymbolicLink(System.IO.Path.Combine(root, "bin", applet), "busybox");
        File.WriteAllText(System.IO.Path.Combine(root, "etc", "passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n");
        File.WriteAllText(System.IO.Path.Combine(root, "etc", "group"), "root:x:0:\nnogroup:x:65534:\n");
        File.SetUnixFileMode(System.IO.Path.Combine(root, "tmp"), (UnixFileMode)0x3ff);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(root, recursive: true);
        return root;
    }

    /// <summary>True when the ELF file names a program interpreter (PT_INTERP): a dynamically linked binary.</summary>
    static bool HasInterpreter(string path)
    {
        using var reader = new BinaryReader(File.OpenRead(path));
        reader.BaseStream.Position = 0x20;
        var programHeaders = reader.ReadInt64();
        reader.BaseStream.Position = 0x36;
        var entrySize = reader.ReadUInt16();
        var count = reader.ReadUInt16();
        for (var i = 0; i < count; i++)
        {
            reader.BaseStream.Position = programHeaders + i * entrySize;
            if (reader.ReadUInt32() == 3) return true;
        }
        return false;
    }
}
