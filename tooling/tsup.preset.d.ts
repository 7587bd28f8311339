import type { Options } from "tsup";
export declare function definePackageBuild(
  entry: Record<string, string>,
  overrides?: Options,
):
  | Options
  | Options[]
  | ((overrideOptions: Options) => Options | Options[] | Promise<Options | Options[]>);
