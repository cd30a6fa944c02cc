using System.Text;
using System.Text.Encodings.Web;

namespace Tiny.Runtime.Oci;

/// <summary>
/// The escaping System.Text.Json writes by default (JavaScriptEncoder.Default): every character outside printable
/// ASCII and each of " &amp; ' + &lt; &gt; \ ` as \uXXXX, but \b \t \n \f \r and \\ in their short forms. The same
/// output without JavaScriptEncoder.Default's static constructor, which builds a table of every allowed code point
/// (about 0.1 ms of each launch, where tiny writes its state file).
/// </summary>
internal sealed class DefaultJsonEscaping : JavaScriptEncoder
{
    public static readonly DefaultJsonEscaping Instance = new();

    /// <summary>A scalar above U+FFFF: two \uXXXX escapes of its UTF-16 surrogates.</summary>
    public override int MaxOutputCharactersPerInputCharacter => 12;

    public override bool WillEncode(int unicodeScalar) =>
        unicodeScalar is < 0x20 or > 0x7e or '"' or '&' or '\'' or '+' or '<' or '>' or '\\' or '`';

    public override unsafe int FindFirstCharacterToEncode(char* text, int textLength)
    {
        for (var i = 0; i < textLength; i++)
            if (WillEncode(text[i])) return i;
        return -1;
    }

    /// <summary>Any byte above 0x7f belongs to a scalar outside ASCII, which is escaped.</summary>
    public override int FindFirstCharacterToEncodeUtf8(ReadOnlySpan<byte> utf8Text)
    {
        for (var i = 0; i < utf8Text.Length; i++)
            if (WillEncode(utf8Text[i])) return i;
        return -1;
    }

    public override unsafe bool TryEncodeUnicodeScalar(int unicodeScalar, char* buffer, int bufferLength, out int numberOfCharactersWritten)
    {
        var output = new Span<char>(buffer, bufferLength);
        numberOfCharactersWritten = 0;
        ReadOnlySpan<char> shortForm = unicodeScalar switch
        {
            '\b' => @"\b", '\t' => @"\t", '\n' => @"\n", '\f' => @"\f", '\r' => @"\r", '\\' => @"\\", _ => default,
        };
        if (!shortForm.IsEmpty)
        {
            if (!shortForm.TryCopyTo(output)) return false;
            numberOfCharactersWritten = shortForm.Length;
            return true;
        }
        if (!WillEncode(unicodeScalar))
        {
            if (output.IsEmpty) return false;
            output[0] = (char)unicodeScalar;
            numberOfCharactersWritten = 1;
            return true;
        }
        Span<char> units = stackalloc char[2];
        var count = new Rune(unicodeScalar).EncodeToUtf16(units);
        if (output.Length < 6 * count) return false;
        for (var i = 0; i < count; i++)
        {
            output[6 * i] = '\\';
            output[6 * i + 1] = 'u';
            ((int)units[i]).TryFormat(output[(6 * i + 2)..], out _, "X4");
        }
        numberOfCharactersWritten = 6 * count;
        return true;
    }
}
