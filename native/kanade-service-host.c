/*
 * kanade-service-host: the Windows service process of KanadeAgent (docs/service.md).
 *
 * A Node executable cannot talk to the service control manager (SCM), so this small program does:
 * it registers with StartServiceCtrlDispatcher, reports SERVICE_RUNNING and runs the agent as its
 * child inside a kill-on-close Job Object (the agent and everything it started die with the host).
 *
 *   kanade-service-host.exe [--log FILE] <agent.exe> [agent args...]
 *
 * Everything after the host's own options is the agent's command line, passed on verbatim (so a
 * test can run `node.exe bundle.js run --config X` as well as `kanade-agent.exe`).
 *
 * Child exit 64 (the self-update swapped the executable, contract §10) -> start it again at once.
 * Child exit 0 -> SERVICE_STOPPED, exit code 0 (no restart).
 * Other exit  -> SERVICE_STOPPED with ERROR_SERVICE_SPECIFIC_ERROR and that code, so the failure
 *                actions (`sc failure`, with `sc failureflag 1`) restart the service.
 * STOP/SHUTDOWN -> close the child's stdin (the host sets KANADE_AGENT_STOP_ON_STDIN_EOF=1, so the
 *                agent treats EOF as a graceful stop); after STOP_GRACE_MS terminate the job.
 */
#include <windows.h>
#include <stdio.h>
#include <wchar.h>

#define SERVICE_NAME L"KanadeAgent"
#define EXIT_RESTART 64
#define STOP_GRACE_MS 12000
#define STOP_WAIT_HINT_MS 15000
/* A child that exits 64 within this long twice in a row is restarted after a pause, not in a spin. */
#define QUICK_EXIT_MS 1000

static SERVICE_STATUS_HANDLE g_status_handle;
static SERVICE_STATUS g_status;
static HANDLE g_stop_event;
static const wchar_t *g_agent_cmdline; /* points into GetCommandLineW() */
static const wchar_t *g_log_path;      /* NULL: the child's stdout/stderr go to NUL */

static void report(DWORD state, DWORD win32_exit, DWORD specific_exit, DWORD wait_hint) {
  g_status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
  g_status.dwCurrentState = state;
  g_status.dwControlsAccepted = state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
  g_status.dwWin32ExitCode = win32_exit;
  g_status.dwServiceSpecificExitCode = specific_exit;
  g_status.dwWaitHint = wait_hint;
  g_status.dwCheckPoint = (state == SERVICE_RUNNING || state == SERVICE_STOPPED) ? 0 : g_status.dwCheckPoint + 1;
  SetServiceStatus(g_status_handle, &g_status);
}

static DWORD WINAPI on_control(DWORD control, DWORD type, LPVOID data, LPVOID ctx) {
  (void)type; (void)data; (void)ctx;
  if (control == SERVICE_CONTROL_STOP || control == SERVICE_CONTROL_SHUTDOWN) {
    report(SERVICE_STOP_PENDING, NO_ERROR, 0, STOP_WAIT_HINT_MS);
    SetEvent(g_stop_event);
    return NO_ERROR;
  }
  if (control == SERVICE_CONTROL_INTERROGATE) return NO_ERROR;
  return ERROR_CALL_NOT_IMPLEMENTED;
}

/* Skips one command-line token (quoted or not) and the blanks after it. */
static const wchar_t *skip_token(const wchar_t *p) {
  if (*p == L'"') {
    for (p++; *p && *p != L'"'; p++) {}
    if (*p) p++;
  } else {
    while (*p && *p != L' ' && *p != L'\t') p++;
  }
  while (*p == L' ' || *p == L'\t') p++;
  return p;
}

static HANDLE open_output(void) {
  SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
  HANDLE h = CreateFileW(g_log_path ? g_log_path : L"NUL", FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                         &sa, g_log_path ? OPEN_ALWAYS : OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
  return h;
}

/* Starts the agent suspended, puts it in `job`, resumes it. Returns the process handle or NULL. */
static HANDLE start_agent(HANDLE job, HANDLE *stdin_write) {
  SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
  HANDLE stdin_read = NULL, out = open_output();
  *stdin_write = NULL;
  if (!CreatePipe(&stdin_read, stdin_write, &sa, 0)) return NULL;
  SetHandleInformation(*stdin_write, HANDLE_FLAG_INHERIT, 0); /* only the read end goes to the child */
  STARTUPINFOW si = {0};
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdInput = stdin_read;
  si.hStdOutput = out;
  si.hStdError = out;
  PROCESS_INFORMATION pi = {0};
  size_t len = wcslen(g_agent_cmdline) + 1;
  wchar_t *cmdline = HeapAlloc(GetProcessHeap(), 0, len * sizeof(wchar_t)); /* CreateProcessW may write to it */
  if (cmdline) memcpy(cmdline, g_agent_cmdline, len * sizeof(wchar_t));
  BOOL ok = cmdline && CreateProcessW(NULL, cmdline, NULL, NULL, TRUE, CREATE_SUSPENDED | CREATE_NO_WINDOW, NULL, NULL, &si, &pi);
  DWORD err = GetLastError();
  if (cmdline) HeapFree(GetProcessHeap(), 0, cmdline);
  CloseHandle(stdin_read);
  if (out != INVALID_HANDLE_VALUE) CloseHandle(out);
  if (!ok) {
    CloseHandle(*stdin_write);
    *stdin_write = NULL;
    SetLastError(err);
    return NULL;
  }
  if (!AssignProcessToJobObject(job, pi.hProcess)) {
    err = GetLastError();
    TerminateProcess(pi.hProcess, 1);
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
    CloseHandle(*stdin_write);
    *stdin_write = NULL;
    SetLastError(err);
    return NULL;
  }
  ResumeThread(pi.hThread);
  CloseHandle(pi.hThread);
  return pi.hProcess;
}

static HANDLE create_job(void) {
  HANDLE job = CreateJobObjectW(NULL, NULL);
  if (!job) return NULL;
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits = {0};
  limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
  if (!SetInformationJobObject(job, JobObjectExtendedLimitInformation, &limits, sizeof limits)) {
    CloseHandle(job);
    return NULL;
  }
  return job;
}

/* Closes stdin (graceful stop), waits STOP_GRACE_MS, then kills the whole job. */
static void stop_agent(HANDLE job, HANDLE process, HANDLE stdin_write) {
  CloseHandle(stdin_write);
  for (DWORD waited = 0; waited < STOP_GRACE_MS; waited += 1000) {
    if (WaitForSingleObject(process, 1000) == WAIT_OBJECT_0) return;
    report(SERVICE_STOP_PENDING, NO_ERROR, 0, STOP_WAIT_HINT_MS);
  }
  TerminateJobObject(job, 1);
  WaitForSingleObject(process, 5000);
}

static void WINAPI service_main(DWORD argc, LPWSTR *argv) {
  (void)argc; (void)argv;
  g_status_handle = RegisterServiceCtrlHandlerExW(SERVICE_NAME, on_control, NULL);
  if (!g_status_handle) return;
  report(SERVICE_START_PENDING, NO_ERROR, 0, 5000);
  g_stop_event = CreateEventW(NULL, TRUE, FALSE, NULL);
  HANDLE job = create_job();
  if (!g_stop_event || !job) {
    report(SERVICE_STOPPED, GetLastError(), 0, 0);
    return;
  }
  /* Inherited by every child: the agent treats stdin EOF as "stop" only when this is set. */
  SetEnvironmentVariableW(L"KANADE_AGENT_STOP_ON_STDIN_EOF", L"1");
  report(SERVICE_RUNNING, NO_ERROR, 0, 0);
  DWORD quick_exits = 0;
  for (;;) {
    HANDLE stdin_write;
    DWORD started = GetTickCount();
    HANDLE process = start_agent(job, &stdin_write);
    if (!process) {
      report(SERVICE_STOPPED, GetLastError(), 0, 0);
      break;
    }
    HANDLE waits[2] = {process, g_stop_event};
    DWORD which = WaitForMultipleObjects(2, waits, FALSE, INFINITE);
    if (which != WAIT_OBJECT_0) { /* stop requested (or the wait failed: stop as well) */
      stop_agent(job, process, stdin_write);
      CloseHandle(process);
      report(SERVICE_STOPPED, NO_ERROR, 0, 0);
      break;
    }
    DWORD code = 1;
    GetExitCodeProcess(process, &code);
    CloseHandle(process);
    CloseHandle(stdin_write);
    if (code == EXIT_RESTART) {
      quick_exits = GetTickCount() - started < QUICK_EXIT_MS ? quick_exits + 1 : 0;
      if (WaitForSingleObject(g_stop_event, quick_exits >= 2 ? 5000 : 0) == WAIT_OBJECT_0) {
        report(SERVICE_STOPPED, NO_ERROR, 0, 0);
        break;
      }
      continue;
    }
    if (code == 0) report(SERVICE_STOPPED, NO_ERROR, 0, 0);
    else report(SERVICE_STOPPED, ERROR_SERVICE_SPECIFIC_ERROR, code, 0);
    break;
  }
  CloseHandle(job); /* kill-on-close: nothing the agent started outlives the service */
}

int wmain(void) {
  const wchar_t *p = skip_token(GetCommandLineW());
  if (wcsncmp(p, L"--log ", 6) == 0 || wcsncmp(p, L"--log\t", 6) == 0) {
    /* --log FILE: the file token, unquoted into its own buffer. */
    static wchar_t log_path[MAX_PATH * 2];
    const wchar_t *start = p + 6;
    while (*start == L' ' || *start == L'\t') start++;
    const wchar_t *end = skip_token(start);
    size_t n = 0;
    for (const wchar_t *q = start; q < end && n + 1 < sizeof log_path / sizeof *log_path; q++) {
      if (*q != L'"') log_path[n++] = *q;
    }
    while (n > 0 && (log_path[n - 1] == L' ' || log_path[n - 1] == L'\t')) n--;
    log_path[n] = 0;
    g_log_path = log_path;
    p = end;
  }
  if (!*p) {
    fwprintf(stderr, L"usage: kanade-service-host.exe [--log FILE] <agent.exe> [args...]\n");
    return 2;
  }
  g_agent_cmdline = p;
  SERVICE_TABLE_ENTRYW table[] = {{(LPWSTR)SERVICE_NAME, service_main}, {NULL, NULL}};
  if (!StartServiceCtrlDispatcherW(table)) {
    DWORD err = GetLastError();
    if (err == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT)
      fwprintf(stderr, L"kanade-service-host: not started by the service manager (run it as the KanadeAgent service)\n");
    else
      fwprintf(stderr, L"kanade-service-host: StartServiceCtrlDispatcher failed: %lu\n", err);
    return 1;
  }
  return 0;
}
