using System.Runtime.InteropServices;

namespace Tiny.Interop;

/// <summary>File descriptors: pipes, reads and writes, open and close (open(2), pipe(2)).</summary>
public static unsafe partial class FileDescriptor
{
    public const int O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_CREAT = 0x40, O_EXCL = 0x80,
        O_TRUNC = 0x200, O_APPEND = 0x400, O_NONBLOCK = 0x800, O_DIRECTORY = 0x10000,
        O_NOFOLLOW = 0x20000, O_CLOEXEC = 0x80000, O_PATH = 0x200000;

    /// <summary>openat2(2) struct open_how resolve flags (linux/openat2.h).</summary>
    public const ulong RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_IN_ROOT = 0x10;

    /// <summary>File type bits of st_mode (inode(7)).</summary>
    public const uint S_IFMT = 0xf000, S_IFDIR = 0x4000, S_IFREG = 0x8000, S_IFCHR = 0x2000, S_IFBLK = 0x6000, S_IFIFO = 0x1000,
        S_IFLNK = 0xa000;

    [LibraryImport("libc", EntryPoint = "pipe2", SetLastError = true)]
    private static partial int Pipe2Raw(int* fds, int flags);

    [LibraryImport("libc", EntryPoint = "close")]
    [SuppressGCTransition]
    private static partial int CloseRaw(int fd);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint ReadRaw(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static partial nint WriteRaw(int fd, byte* buffer, nuint count);

    public const short POLLIN = 0x1, POLLERR = 0x8, POLLHUP = 0x10;

    /// <summary>struct pollfd; a negative Fd is skipped (poll(2)).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events, ReturnedEvents;
    }

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int PollRaw(PollFd* fds, nuint count, int timeoutMilliseconds);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int OpenRaw(string path, int flags, int mode);

    /// <summary>A close-on-exec pipe: (read end, write end).</summary>
    public static (int Read, int Write) CreatePipe()
    {
        int* fds = stackalloc int[2];
        if (Pipe2Raw(fds, O_CLOEXEC) < 0) throw new SyscallException("pipe2", Marshal.GetLastPInvokeError());
        return (fds[0], fds[1]);
    }

    public static void Close(int fd)
    {
        if (fd >= 0) CloseRaw(fd);
    }

    public static int Open(string path, int flags, int mode = 0)
    {
        var fd = OpenRaw(path, flags | O_CLOEXEC, mode);
        return fd >= 0 ? fd : throw new SyscallException("open", Marshal.GetLastPInvokeError(), path);
    }

    /// <summary>Waits until one of <paramref name="fds"/> is ready or the timeout passes (-1: no timeout);
    /// returns how many are ready.</summary>
    public static int Poll(Span<PollFd> fds, int timeoutMilliseconds)
    {
        fixed (PollFd* start = fds)
        {
            while (true)
            {
                var ready = PollRaw(start, (nuint)fds.Length, timeoutMilliseconds);
                if (ready >= 0) return ready;
                var errno = Marshal.GetLastPInvokeError();
                if (errno != Errno.EINTR) throw new SyscallException("poll", errno);
            }
        }
    }

    /// <summary>One read(2): the bytes read (0 at end of file), or the negated errno.</summary>
    public static int TryRead(int fd, Span<byte> buffer)
    {
        fixed (byte* start = buffer)
        {
            while (true)
            {
                var n = ReadRaw(fd, start, (nuint)buffer.Length);
                if (n >= 0) return (int)n;
                var errno = Marshal.GetLastPInvokeError();
                if (errno != Errno.EINTR) return -errno;
            }
        }
    }

    /// <summary>Reads until <paramref name="buffer"/> is full or end of file; returns the bytes read.</summary>
    public static int ReadFully(int fd, Span<byte> buffer)
    {
        var total = 0;
        fixed (byte* start = buffer)
        {
            while (total < buffer.Length)
            {
                var n = ReadRaw(fd, start + total, (nuint)(buffer.Length - total));
                if (n == 0) break;
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == Errno.EINTR) continue;
                    throw new SyscallException("read", errno);
                }
                total += (int)n;
            }
        }
        return total;
    }

    /// <summary>Writes all of <paramref name="data"/>; returns errno, 0 on success.</summary>
    public static int TryWriteAll(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* start = data)
        {
            var done = 0;
            while (done < data.Length)
            {
                var n = WriteRaw(fd, start + done, (nuint)(data.Length - done));
                if (n < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == Errno.EINTR) continue;
                    return errno;
                }
                done += (int)n;
            }
        }
        return 0;
    }

    /// <summary>
    /// A small file's text with open, read and close only (File.ReadAllText also stats and flock(2)s it): for
    /// /proc and /sys values.
    /// </summary>
    public static string ReadAllText(string path) => System.Text.Encoding.UTF8.GetString(ReadAllBytes(path));

    /// <summary>A small file's bytes with open, read and close only.</summary>
    public static byte[] ReadAllBytes(string path)
    {
        var fd = Open(path, O_RDONLY);
        try
        {
            var buffer = new byte[4096];
            var length = 0;
            while ((length += ReadFully(fd, buffer.AsSpan(length))) == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
            return buffer[..length];
        }
        finally
        {
            Close(fd);
        }
    }

    public static void WriteAll(int fd, ReadOnlySpan<byte> data)
    {
        var errno = TryWriteAll(fd, data);
        if (errno != 0) throw new SyscallException("write", errno);
    }
}
