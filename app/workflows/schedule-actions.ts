"use server";

import { runAction } from "@/app/_server/action";
import { scheduleDeps } from "@/lib/schedules/deps";
import { createSchedule, deleteSchedule, listSchedules, setScheduleEnabled, updateSchedule } from "@/lib/schedules/repository";

/**
 * The editor's Schedules dialog. Scoping, bounds and the audit entries are the repository's (lib/schedules);
 * in queue mode each change also updates the schedule's BullMQ job scheduler.
 */

/** The workflow's schedules with their coming fire times (view access). */
export async function workflowSchedules(workflowId: string) {
  return runAction("workflowSchedules", "viewer", async (context) => ({ schedules: await listSchedules(scheduleDeps(context), context.userId, workflowId) }));
}

export async function addSchedule(workflowId: string, fields: unknown) {
  return runAction("addSchedule", "editor", async (context) => ({ schedule: await createSchedule(scheduleDeps(context), context.userId, workflowId, fields) }));
}

export async function editSchedule(scheduleId: string, fields: unknown) {
  return runAction("editSchedule", "editor", async (context) => ({ schedule: await updateSchedule(scheduleDeps(context), context.userId, scheduleId, fields) }));
}

export async function pauseSchedule(scheduleId: string) {
  return runAction("pauseSchedule", "editor", async (context) => ({ schedule: await setScheduleEnabled(scheduleDeps(context), context.userId, scheduleId, false) }));
}

export async function resumeSchedule(scheduleId: string) {
  return runAction("resumeSchedule", "editor", async (context) => ({ schedule: await setScheduleEnabled(scheduleDeps(context), context.userId, scheduleId, true) }));
}

export async function removeSchedule(scheduleId: string) {
  return runAction("removeSchedule", "editor", async (context) => deleteSchedule(scheduleDeps(context), context.userId, scheduleId));
}
