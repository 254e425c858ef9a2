import type { Command } from 'commander';
import { fieldKey, type FieldLabel } from '../../audience/governance.ts';
import {
  action,
  CliError,
  connect,
  examples,
  EXIT,
  printJson,
  printTable,
  splitList,
  withConnection,
  type GlobalOptions,
} from './api-client.ts';

const PATH = '/api/v1/field-labels';

function show(fields: FieldLabel[], opts: GlobalOptions): void {
  if (opts.json) return printJson(fields);
  printTable(
    fields.map((f) => ({ ...f, labels: f.labels.join(',') })),
    ['sourceType', 'source', 'labels'],
  );
}

/** The field a command names: `namespace` or `attribute`, then the namespace or path. */
function sourceTypeOf(text: string): 'namespace' | 'attribute' {
  if (text === 'namespace' || text === 'attribute') return text;
  throw new CliError(`"${text}" is not a source type`, EXIT.usage, [
    { path: 'sourceType', reason: 'namespace (an identity namespace) or attribute (a path)' },
  ]);
}

/** Same field, as the service compares them. */
const sameField = (f: FieldLabel, sourceType: string, source: string) =>
  fieldKey(f) === fieldKey({ sourceType, source });

/** Reads the labelled fields, changes them with `edit`, writes the whole set back and shows it. */
async function change(opts: GlobalOptions, edit: (fields: FieldLabel[]) => FieldLabel[]): Promise<void> {
  const api = await connect(opts);
  const current = await api.request<{ fields: FieldLabel[] }>('GET', PATH);
  const answer = await api.request<{ fields: FieldLabel[] }>('PUT', PATH, { fields: edit(current.fields) });
  show(answer.fields, opts);
}

/** `tca field-labels list|set|remove`: data-usage labels on the fields mappings export. */
export function registerFieldLabelsCommand(program: Command): void {
  const group = program
    .command('field-labels')
    .description(
      'Data-usage labels on the fields a mapping exports (identity namespaces and attribute paths), checked against ' +
        'the data-usage policies like segment labels',
    );
  withConnection(group.command('list').description('The labelled fields')).action(
    action(async (opts: GlobalOptions) => {
      const api = await connect(opts);
      show((await api.request<{ fields: FieldLabel[] }>('GET', PATH)).fields, opts);
    }),
  );
  withConnection(
    group
      .command('set <sourceType> <source> <labels>')
      .description(
        "Give a field its labels (comma-separated; they replace the field's labels); refused when a dataflow in place " +
          'exports it to a destination they forbid',
      )
      .addHelpText(
        'after',
        examples([
          'tca field-labels set namespace Email C5',
          'tca field-labels set attribute loyalty.score MY-SCORE,C9',
        ]),
      ),
  ).action(
    action(async (sourceType: string, source: string, labels: string, opts: GlobalOptions) => {
      const type = sourceTypeOf(sourceType);
      await change(opts, (fields) => [
        ...fields.filter((f) => !sameField(f, type, source)),
        { sourceType: type, source, labels: splitList(labels) },
      ]);
    }),
  );
  withConnection(
    group.command('remove <sourceType> <source>').description('Take every label off a field'),
  ).action(
    action(async (sourceType: string, source: string, opts: GlobalOptions) => {
      const type = sourceTypeOf(sourceType);
      await change(opts, (fields) => {
        if (!fields.some((f) => sameField(f, type, source)))
          throw new CliError(`${type} ${source} has no labels`, EXIT.notFound);
        return fields.filter((f) => !sameField(f, type, source));
      });
    }),
  );
}
