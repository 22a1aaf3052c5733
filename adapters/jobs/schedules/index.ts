import { listActors } from '../../../projections/actorStatus.projection.js';
import { scheduleActor } from '../../../actors/schedules/index.js';
import { defineJobModule } from '../jobModule.js';
import { scheduleTable } from './scheduleTable.js';

/** Schedules: any creating command of another kind (a nightly grab) on a cron expression. */
export const schedulesModule = defineJobModule({
  name: 'schedules',
  storedKind: scheduleActor.kind,
  definition: scheduleActor,
  service: {
    description: 'schedules: any command (such as a grab) on a cron expression; create, pause, resume, remove, get',
  },
  effects: async (context) => {
    const [{ createScheduleEffects }, { createFireTarget }] = await Promise.all([
      import('./scheduleEffects.js'),
      import('./fireTarget.js'),
    ]);
    // A fire goes through the runtime the schedule belongs to, with the target kind's preparers.
    let fire: ReturnType<typeof createFireTarget> | undefined;
    return createScheduleEffects({ fire: (...args) => (fire ??= createFireTarget(context.runtime(), context.preparers()))(...args) });
  },
  apiPreparers: async (context) => {
    const { scheduleCreatePreparer } = await import('./scheduleCreatePreparer.js');
    return {
      create: scheduleCreatePreparer({
        timeZone: context.config.timeZone,
        definitions: context.definitions,
        requestSchemaOf: (kind, command) => context.preparers()[kind]?.[command]?.requestSchema,
      }),
    };
  },
  registerCli: async (program) => (await import('./scheduleCli.js')).registerScheduleCommands(program),
  statusSection: {
    title: 'SCHEDULES',
    // Read apart from the status rows: their limit and newest-first order must not hide a
    // schedule that fires once a night. Removed ones are shown only when asked for by state.
    text: async (db, options) => {
      const schedules = (await listActors(db, { kind: scheduleActor.kind, state: options.state, limit: 1000 })).filter(
        (r) => options.state !== undefined || !r.final,
      );
      return schedules.length ? scheduleTable(schedules) : '';
    },
  },
});
