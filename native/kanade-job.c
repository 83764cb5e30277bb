/*
 * kanade-job.exe: runs one command's process tree inside its own Job Object (contract §8.4).
 *
 *   kanade-job.exe <command line of the child, passed on verbatim>
 *
 * The job has JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE and the child is created suspended, assigned to
 * the job, then resumed, so every descendant it ever starts is in the job. The launcher waits for
 * the child and exits with the child's exit code. Killing the launcher (Node's child.kill() is
 * TerminateProcess) closes the last handle of the job, and Windows kills every process in it,
 * including descendants whose parent already exited (which `taskkill /T` misses).
 *
 * When the child exits on its own, the kill-on-close limit is lifted before the launcher exits: a
 * background process the script left behind keeps running, as on Unix (docs/executor.md).
 *
 * If the child cannot be started or put into the job, the launcher prints one line
 * `kanade-job: <what failed>: error <code>` on stderr and exits with KANADE_JOB_LAUNCH_FAILED, which
 * the agent reports as a spawn failure (actors/exec/job-launcher.ts).
 *
 * Built with mingw by scripts/build-native.mjs into build/native/kanade-job.exe.
 */
#include <windows.h>
#include <stdio.h>

/* Keep in sync with KANADE_JOB_LAUNCH_FAILED in actors/exec/job-launcher.ts ('KJ' 0x4B4A, 1). */
#define KANADE_JOB_LAUNCH_FAILED 0x4B4A0001u

static void fail(const char *what) {
  DWORD code = GetLastError();
  fprintf(stderr, "kanade-job: %s: error %lu\n", what, (unsigned long)code);
  fflush(stderr);
  ExitProcess(KANADE_JOB_LAUNCH_FAILED);
}

/* The command line after the launcher's own first token (same rules as the CRT's argv[0]). */
static wchar_t *skip_own_name(wchar_t *line) {
  if (*line == L'"') {
    line++;
    while (*line != L'\0' && *line != L'"') line++;
    if (*line == L'"') line++;
  } else {
    while (*line != L'\0' && *line != L' ' && *line != L'\t') line++;
  }
  while (*line == L' ' || *line == L'\t') line++;
  return line;
}

static void set_kill_on_close(HANDLE job, BOOL on) {
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
  ZeroMemory(&info, sizeof info);
  info.BasicLimitInformation.LimitFlags = on ? JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE : 0;
  if (!SetInformationJobObject(job, JobObjectExtendedLimitInformation, &info, sizeof info) && on) {
    fail("SetInformationJobObject(KILL_ON_JOB_CLOSE)");
  }
}

int wmain(int argc, wchar_t **argv) {
  (void)argc;
  (void)argv;
  wchar_t *child_line = skip_own_name(GetCommandLineW());
  if (*child_line == L'\0') {
    SetLastError(ERROR_BAD_ARGUMENTS);
    fail("no command line");
  }

  HANDLE job = CreateJobObjectW(NULL, NULL);
  if (job == NULL) fail("CreateJobObject");
  set_kill_on_close(job, TRUE);

  STARTUPINFOW si;
  ZeroMemory(&si, sizeof si);
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
  si.hStdOutput = GetStdHandle(STD_OUTPUT_HANDLE);
  si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
  PROCESS_INFORMATION pi;
  ZeroMemory(&pi, sizeof pi);
  if (!CreateProcessW(NULL, child_line, NULL, NULL, TRUE, CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT,
                      NULL, NULL, &si, &pi)) {
    fail("CreateProcess");
  }
  if (!AssignProcessToJobObject(job, pi.hProcess)) {
    DWORD code = GetLastError();
    TerminateProcess(pi.hProcess, KANADE_JOB_LAUNCH_FAILED);
    SetLastError(code);
    fail("AssignProcessToJobObject");
  }
  if (ResumeThread(pi.hThread) == (DWORD)-1) {
    DWORD code = GetLastError();
    TerminateJobObject(job, KANADE_JOB_LAUNCH_FAILED);
    SetLastError(code);
    fail("ResumeThread");
  }
  CloseHandle(pi.hThread);

  WaitForSingleObject(pi.hProcess, INFINITE);
  DWORD exit_code = 1;
  GetExitCodeProcess(pi.hProcess, &exit_code);
  /* A clean exit leaves the script's background processes alone (as on Unix). */
  set_kill_on_close(job, FALSE);
  CloseHandle(pi.hProcess);
  CloseHandle(job);
  return (int)exit_code;
}
