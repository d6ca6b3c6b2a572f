#include <windows.h>
#include <ntsecapi.h>
/* ProcessPrng, as Windows 10's bcryptprimitives.dll exports it and Rust's std imports it, for
   Wine versions that lack the DLL: the same bytes from RtlGenRandom (advapi32). */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x7fffffff ? 0x7fffffff : (ULONG)len;
        if (!RtlGenRandom(data, chunk)) return FALSE;
        data += chunk; len -= chunk;
    }
    return TRUE;
}
