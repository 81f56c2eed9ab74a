-- AlterTable
ALTER TABLE "Run" ADD COLUMN     "costUsd" DOUBLE PRECISION,
ADD COLUMN     "totalTokens" INTEGER;

-- AlterTable
ALTER TABLE "StepRun" ADD COLUMN     "completionTokens" INTEGER,
ADD COLUMN     "costUsd" DOUBLE PRECISION,
ADD COLUMN     "promptTokens" INTEGER;
