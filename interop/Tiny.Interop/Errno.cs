using System.Runtime.InteropServices;

namespace Tiny.Interop;

/// <summary>errno values tiny acts on (errno(3), asm-generic/errno-base.h).</summary>
public static class Errno
{
    public const int EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EIO = 5, EBADF = 9, ECHILD = 10,
        EAGAIN = 11, ENOMEM = 12, EACCES = 13, EFAULT = 14, EBUSY = 16, EEXIST = 17, ENOTDIR = 20,
        EISDIR = 21, EINVAL = 22, ENOSPC = 28, EROFS = 30, EPIPE = 32, ERANGE = 34, ENAMETOOLONG = 36, ENOSYS = 38,
        ENOTEMPTY = 39, ELOOP = 40, ENOEXEC = 8, E2BIG = 7, ETXTBSY = 26, EOPNOTSUPP = 95,
        EADDRINUSE = 98, ENODEV = 19, EBADMSG = 74;

    /// <summary>strerror text, lower-cased as Go and runc print it ("no such file or directory").</summary>
    public static string Describe(int errno)
    {
        var text = Marshal.GetPInvokeErrorMessage(errno);
        return text.Length > 1 && char.IsUpper(text[0]) && !char.IsUpper(text[1])
            ? char.ToLowerInvariant(text[0]) + text[1..]
            : text;
    }
}
