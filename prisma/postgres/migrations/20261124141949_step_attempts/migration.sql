-- AlterTable
ALTER TABLE "StepRun" ADD COLUMN     "attemptErrors" TEXT,
ADD COLUMN     "attempts" INTEGER NOT NULL DEFAULT 1;
