# The trampoline a container's init executes last (see package sysprog):
# a static program of a few hundred bytes, run from a sealed memfd, so
# that the init's /proc/PID/exe never leads to the runtime binary while
# the container can reach it (CVE-2019-5736), and a "#!/proc/self/exe"
# script cannot make the container execute the runtime.
#
#   1. unblock every signal (the runtime forked its init with all blocked)
#   2. if waitfd >= 0: read one byte from it (the go-ahead of "start"),
#      then mark it close-on-exec
#   3. mark errfd close-on-exec
#   4. argv is  candidate paths..., "", program argv...: execve each
#      candidate in turn with the program's argv and the environment
#   5. all failed: write {EXEC, 0, errno, 0} (four little-endian uint32)
#      to errfd, errno being the first that is not ENOENT or ENOTDIR (else
#      ENOENT), and exit 127 (ENOENT) or 126
#
# waitfd and errfd are patched in by the runtime after the "HKOTRMP1"
# marker. Build: go generate (needs binutils), see gen.sh.
	.intel_syntax noprefix
	.globl _start
	.text
_start:
	xor eax, eax
	push rax
	mov rsi, rsp
	mov edi, 2
	xor edx, edx
	mov r10d, 8
	mov eax, 14
	syscall
	pop rax
	mov edi, dword ptr [rip + waitfd]
	test edi, edi
	js 1f
	sub rsp, 16
	mov rsi, rsp
	mov edx, 1
	xor eax, eax
	syscall
	add rsp, 16
	cmp rax, 1
	jne quit
	mov edi, dword ptr [rip + waitfd]
	mov esi, 2
	mov edx, 1
	mov eax, 72
	syscall
1:
	mov edi, dword ptr [rip + errfd]
	mov esi, 2
	mov edx, 1
	mov eax, 72
	syscall
	mov rbx, [rsp]
	lea r12, [rsp + 8]
	lea r14, [rsp + 8*rbx + 16]
	mov r13, r12
2:
	mov rax, [r13]
	test rax, rax
	jz quit
	cmp byte ptr [rax], 0
	je 3f
	add r13, 8
	jmp 2b
3:
	add r13, 8
	xor r15d, r15d
4:
	mov rdi, [r12]
	cmp byte ptr [rdi], 0
	je 5f
	mov rsi, r13
	mov rdx, r14
	mov eax, 59
	syscall
	neg eax
	cmp eax, 2
	je 6f
	cmp eax, 20
	je 6f
	test r15d, r15d
	jnz 6f
	mov r15d, eax
6:
	add r12, 8
	jmp 4b
5:
	test r15d, r15d
	jnz 7f
	mov r15d, 2
7:
	sub rsp, 16
	mov dword ptr [rsp], 0x45584543
	mov dword ptr [rsp + 4], 0
	mov dword ptr [rsp + 8], r15d
	mov dword ptr [rsp + 12], 0
	mov edi, dword ptr [rip + errfd]
	mov rsi, rsp
	mov edx, 16
	mov eax, 1
	syscall
	mov edi, 126
	cmp r15d, 2
	jne 8f
	mov edi, 127
8:
	mov eax, 231
	syscall
quit:
	mov edi, 1
	mov eax, 231
	syscall
	.balign 8
	.ascii "HKOTRMP1"
waitfd:	.long -1
errfd:	.long -1
